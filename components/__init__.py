"""Pulumi ComponentResources shared by every environment: one component per file, one shape."""
