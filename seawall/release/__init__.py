"""Releases as artifacts: a service's OCI image built (buildah) or copied (skopeo), pushed to the team's
registry, checked there, and recorded by digest in the release ledger (``seawall.releases``).

``oci.py`` is the adapter (the tools' commands as data, their failures in one line); ``pipeline.py`` the
action (the stages of one release, then its ledger line).
"""
