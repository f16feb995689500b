"""The strict dataclass config loader, re-exported from :mod:`molgraphpt._config_io`.

The loader lives in the lowest layer so that checkpoints (``molgraphpt.models``) read their
``config.yaml`` with the same rules as the CLI reads an experiment config: one loader, not two.
"""

from molgraphpt._config_io import (
    ConfigFileNotFoundError,
    _read_yaml,
    apply_overrides,
    from_dict,
    load_config,
    save_config,
    set_dotted,
    to_dict,
    to_yaml,
)

__all__ = ["ConfigFileNotFoundError", "apply_overrides", "from_dict", "load_config"]
__all__ += ["_read_yaml", "save_config", "set_dotted", "to_dict", "to_yaml"]
