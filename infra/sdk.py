"""pulumi-aws services that load one resource module at a time, not the whole service.

pulumi-aws defers each service package (`aws.ec2`) until first use, but then its
`__init__` imports every module of the service: `aws.ec2.Vpc` costs the ~180 modules of
EC2, and the program's ten services were most of `mlops infra render`'s cold start. After
`load_services_on_demand()`, `aws.<service>.<Name>` imports only the module that defines
`Name` (the SDK's layout: class `VpcEndpoint` in `vpc_endpoint.py`, function
`get_public_key_output` in `get_public_key.py`, `*Args` in `_inputs.py`).

Nothing changes but when modules load: the classes are the SDK's own, and a name the
layout does not predict loads the service's real `__init__` into the package, as before.
`infra/__main__.py` calls it first, so `pulumi up` and the offline render both benefit.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from typing import Any

_SDK = "pulumi_aws"
_SHARED = ("_inputs", "_enums", "outputs")  # modules that define many names each


class OnDemandService(types.ModuleType):
    """A pulumi-aws service package whose attributes are looked up module by module."""

    _complete = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # import-system and introspection probes
            raise AttributeError(name)
        for module in _candidates(name):
            try:
                found = importlib.import_module(f"{self.__name__}.{module}")
            except ModuleNotFoundError as missing:
                if missing.name != f"{self.__name__}.{module}":
                    raise
                continue
            if module == name:  # `from . import outputs`: the submodule itself
                return found
            if name in vars(found):
                value = vars(found)[name]
                setattr(self, name, value)
                return value
        return self._load_everything(name)

    def _load_everything(self, name: str) -> Any:
        """The service's real `__init__`, run in this package: every name, as before."""
        if not self._complete:
            self._complete = True
            code = self.__loader__.get_code(self.__name__)  # type: ignore[union-attr]
            exec(code, vars(self))  # noqa: S102 - the installed SDK's own package code
            if name in vars(self):
                return vars(self)[name]
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")


def _candidates(name: str) -> list[str]:
    """Modules of a service that may define `name`, most specific first."""
    if name in _SHARED:
        return [name]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    if name.endswith("_output"):  # `get_x_output` lives beside `get_x`
        snake = name.removesuffix("_output")
    return [snake, *_SHARED]


def load_services_on_demand() -> None:
    """Swap every not-yet-loaded pulumi-aws service for an `OnDemandService`.

    Idempotent; a service the process already loaded (or started to) is left as it is."""
    sdk = importlib.import_module(_SDK)
    for attribute, value in list(vars(sdk).items()):
        if not isinstance(value, types.ModuleType) or type(value).__name__ != "_LazyModule":
            continue
        lazy = types.ModuleType.__getattribute__(value, "__spec__")  # no load
        if lazy is None or lazy.submodule_search_locations is None or lazy.origin is None:
            continue
        spec = importlib.util.spec_from_file_location(  # the plain loader, not the lazy one
            lazy.name, lazy.origin, submodule_search_locations=lazy.submodule_search_locations
        )
        assert spec is not None and spec.loader is not None
        service = OnDemandService(spec.name)
        service.__spec__ = spec
        service.__loader__ = spec.loader
        service.__path__ = list(spec.submodule_search_locations or ())
        service.__file__ = spec.origin
        service.__package__ = spec.name
        sys.modules[spec.name] = service
        setattr(sdk, attribute, service)
