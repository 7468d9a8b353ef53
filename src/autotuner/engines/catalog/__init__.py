"""Engine flag catalogs: the shipped JSON catalogs and the checks against them (``catalog``), and the
static readers that generate them from an engine's source (``catalog_parse``, ``catalog_trtllm``)."""

from .catalog import (CATALOG_DIR, Catalog, CatalogError, available_versions, load_catalog, nearest_version,
                      resolve_version, validate_flags, version_key)

__all__ = ["CATALOG_DIR", "Catalog", "CatalogError", "available_versions", "load_catalog", "nearest_version",
           "resolve_version", "validate_flags", "version_key"]
