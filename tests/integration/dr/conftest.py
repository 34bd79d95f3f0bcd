"""The backup integration fixtures (real restic, local repositories and the loopback S3 server), shared."""

from tests.integration.backup.conftest import local_lab, make_lab, s3_endpoint, seawall, seaweedfs_endpoint

__all__ = ["local_lab", "make_lab", "s3_endpoint", "seawall", "seaweedfs_endpoint"]
