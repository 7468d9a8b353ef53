"""A fake Kubernetes API server with a fake OME controller, for the Kubernetes deployer's tests."""

from .cluster import TOKEN, FakeCluster, sample

__all__ = ["FakeCluster", "TOKEN", "sample"]
