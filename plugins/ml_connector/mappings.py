"""Reading pair mapping files: the I/O around the pure ``core.mapping.Mapping.parse``.

``core`` never touches the disk; this module reads the bytes, names the file as an operator would
type it, and passes the ERP field schemas that the installed systems declare.
"""

from __future__ import annotations

from pathlib import Path

from ml_connector.core.mapping import Mapping, MappingErrors
from ml_connector.errors import ConfigError
from ml_connector.settings import REPO_ROOT
from ml_connector.systems import erp_schemas


def display_path(path: Path | str) -> str:
    """Path as an operator would type it: relative to the repository when inside it."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def load_mapping(path: Path | str) -> Mapping:
    """Read and validate a mapping file; raises ``MappingErrors`` listing every problem.

    The file's stem is the pair it must declare (``include/mappings/<pair>.yaml``).
    """
    source = display_path(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MappingErrors([ConfigError(source, "(file)", "a readable mapping file", exc.strerror)]) from exc
    return Mapping.parse(data, source=source, schemas=erp_schemas(), expected_pair=Path(path).stem)
