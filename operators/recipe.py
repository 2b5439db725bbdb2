"""Pipeline configuration: one frozen dataclass per operator, assembled from recipes.

A recipe is a YAML file in ``recipes/`` (``default``, ``extract``, ``gopher``, ``c4``,
``fineweb``, ``openwebmath``, ...). A user config file has the same shape and may name a
``base`` recipe it overrides. A stage set to ``null`` is off; an unknown key or a bad
value fails at load time naming the key and the valid choices.

>>> cfg = load_recipe("extract")
>>> [name for name, _, _ in enabled_filter_stages(cfg)]
[]
>>> load_config({"filters": {"gopher_qualty": {}}})
Traceback (most recent call last):
...
operators.config.ConfigError: unknown key 'gopher_qualty' in config.filters; valid keys: c4, ..., gopher_quality, ...
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from operators.config import ConfigError, from_dict
from operators.dedup.exact import ExactDedupConfig
from operators.dedup.lines import LineDedupConfig, ParagraphDedupConfig
from operators.dedup.minhash import MinHashConfig
from operators.extract import REASONS as EXTRACT_REASONS
from operators.extract import ExtractConfig
from operators.filters.registry import FILTER_STAGES
from operators.io import InputConfig
from operators.math_pages import MathPagesConfig
from operators.storage import StorageConfig
from operators.warc import WarcConfig


@dataclass(frozen=True)
class ResourcesConfig:
    """How much of the cluster each Ray Data task asks for.

    batch_size: documents per batch handed to the per-batch operators.
    cpus_per_task: CPUs reserved per map task (fractions let I/O-bound tasks overlap).
    shuffle_partitions: partitions of the dedup shuffles; None = 2 x cluster CPUs (min 4).
    ledger_lease_seconds: how long a run's claim on an input lasts in the ledger (scheduled
        runs); must exceed the run's duration.
    files_per_wave: input files per checkpoint wave of a resumable run (each finished wave is
        recorded; an interrupted run redoes at most its current wave); None = max(8, 4 x the
        cluster's task slots).
    model_actors: run the model-based filter stages (perplexity, classifier) in a pool of at
        most this many Ray actors, each loading a model once and keeping it; None = in the
        read tasks, where each worker process loads the model once and keeps it. Set it when
        a model is large (CCNet's KenLM models are gigabytes) so that only this many copies are
        held; each actor takes ``cpus_per_task`` CPUs, and the pool leaves the read tasks at
        least one task slot (``pipeline.model_pool``).
    """

    batch_size: int = 256
    cpus_per_task: float = 1.0
    shuffle_partitions: int | None = None
    ledger_lease_seconds: int = 6 * 3600
    files_per_wave: int | None = None
    model_actors: int | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"resources.batch_size must be >= 1, got {self.batch_size}")
        if self.cpus_per_task <= 0:
            raise ConfigError(f"resources.cpus_per_task must be > 0, got {self.cpus_per_task}")
        if self.files_per_wave is not None and self.files_per_wave < 1:
            raise ConfigError(f"resources.files_per_wave must be >= 1 (or null for automatic), got {self.files_per_wave}")
        if self.model_actors is not None and self.model_actors < 1:
            raise ConfigError(f"resources.model_actors must be >= 1 (or null to score in the read tasks), "
                              f"got {self.model_actors}")


FiltersConfig = dataclasses.make_dataclass(
    "filters",
    [
        (name, module.Config | None, field(default_factory=module.Config) if getattr(module, "DEFAULT_ON", True)
         else field(default=None))  # type: ignore[attr-defined]
        for name, module in FILTER_STAGES.items()
    ],
    frozen=True,
)
FiltersConfig.__doc__ = (
    "The quality filters, in pipeline order; null turns a stage off. Stages whose module sets "
    "DEFAULT_ON = False (model-based and content-rewriting stages) are off unless a recipe names them."
)


@dataclass(frozen=True)
class DedupConfig:
    """Global dedup stages, in order: line and paragraph dedup (rewrite text), then exact
    (URL, text hash), then fuzzy (MinHash-LSH + connected components). null turns one off."""

    lines: LineDedupConfig | None = None
    paragraphs: ParagraphDedupConfig | None = None
    exact: ExactDedupConfig | None = field(default_factory=ExactDedupConfig)
    fuzzy: MinHashConfig | None = field(default_factory=MinHashConfig)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything ``raysift run`` does, one sub-config per operator."""

    input: InputConfig = field(default_factory=InputConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    warc: WarcConfig = field(default_factory=WarcConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    math: MathPagesConfig | None = None
    filters: FiltersConfig = field(default_factory=FiltersConfig)  # type: ignore[valid-type]
    dedup: DedupConfig = field(default_factory=DedupConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    models_dir: str = "models"
    """Where a recipe's published models are looked for: ``{models_dir}`` in any setting is
    replaced by it (``--set models_dir=s3://bucket/models``)."""


MODELS_DIR = "{models_dir}"


def _substitute(value: Any, models_dir: str) -> Any:
    if isinstance(value, str):
        return value.replace(MODELS_DIR, models_dir)
    if isinstance(value, dict):
        return {k: _substitute(v, models_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, models_dir) for v in value]
    return value


def recipe_names() -> list[str]:
    """Names of the bundled recipes."""
    return sorted(p.name[: -len(".yaml")] for p in resources.files("recipes").iterdir() if p.name.endswith(".yaml"))


def _recipe_data(name: str) -> dict[str, Any]:
    path = resources.files("recipes") / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown recipe {name!r}; available recipes: {', '.join(recipe_names())}")
    return yaml.safe_load(path.read_text()) or {}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve_bases(data: dict[str, Any], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    data = dict(data)
    data.pop("job", None)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"base must be a recipe name, got {base!r}; available recipes: {', '.join(recipe_names())}")
    if base in seen:
        raise ConfigError(f"recipe {base!r} includes itself through 'base'")
    return _merge(_resolve_bases(_recipe_data(base), seen + (base,)), data)


def load_config(data: dict[str, Any]) -> PipelineConfig:
    """Build a config from plain data (a recipe or user file, ``base`` resolved)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {type(data).__name__}")
    data = _resolve_bases(data)
    models_dir = data.get("models_dir", PipelineConfig.models_dir)
    if not isinstance(models_dir, str) or not models_dir:
        raise ConfigError(f"models_dir must be a folder path or s3:// prefix, got {models_dir!r}")
    return from_dict(PipelineConfig, _substitute(data, models_dir.rstrip("/")), "config")


def load_recipe(name: str, overrides: list[str] | tuple[str, ...] = ()) -> PipelineConfig:
    """A bundled recipe of ``raysift run`` by name, with ``KEY=VALUE`` overrides (:func:`apply_overrides`)."""
    data = _recipe_data(name)
    if data.get("job", "run") != "run":
        raise ConfigError(f"recipe {name!r} is for `raysift {data['job']}`, not `raysift run`")
    return load_config(apply_overrides(_resolve_bases(data), overrides))


def load_config_file(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> PipelineConfig:
    """A user's YAML config file (may start from a recipe with ``base: NAME``), with overrides."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r} must be a mapping of sections, got {type(data).__name__}")
    return load_config(apply_overrides(_resolve_bases(data or {}), overrides))


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Set dotted keys from ``KEY=VALUE`` strings (``--set`` on the command line); VALUE is YAML.

    >>> apply_overrides({"filters": {"c4": {}}}, ["filters.c4.bad_words=false", "filters.url=null"])
    {'filters': {'c4': {'bad_words': False}, 'url': None}}
    >>> apply_overrides({}, ["filters.c4"])
    Traceback (most recent call last):
    ...
    operators.config.ConfigError: --set 'filters.c4' must look like KEY=VALUE (e.g. filters.language.min_score=0.5)
    """
    out = _merge({}, data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} must look like KEY=VALUE (e.g. filters.language.min_score=0.5)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {exc}") from exc
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return out


def enabled_filter_stages(cfg: PipelineConfig) -> list[tuple[str, ModuleType, Any]]:
    """(name, module, config) of each filter stage that is on, in pipeline order."""
    out = []
    for name, module in FILTER_STAGES.items():
        stage_cfg = getattr(cfg.filters, name)
        if stage_cfg is not None:
            out.append((name, module, stage_cfg))
    return out


def check_models(cfg: PipelineConfig) -> None:
    """Fail at start, before any input is read, when an enabled stage's model is missing: each
    model-based stage's ``check_models`` raises a ConfigError saying what to supply and where
    the publisher distributes it."""
    lang = cfg.extract.language
    if lang.backend == "fasttext" and lang.model and lang.model.startswith(("s3://", "s3a://")):
        from operators import storage

        if not storage.exists(lang.model, cfg.storage):
            raise ConfigError(f"extract.language.model = {lang.model!r} does not exist; upload lid.176.bin or "
                              "lid.176.ftz there, or remove the setting to use the lid.176.ftz shipped with raysift")
    for name, module, stage_cfg in enabled_filter_stages(cfg):
        if hasattr(module, "check_models"):
            try:
                module.check_models(stage_cfg, cfg.storage)
            except ConfigError as exc:
                raise ConfigError(
                    f"{exc}\n(stage {name}) put the model files under models_dir ({cfg.models_dir!r}) or point "
                    f"the recipe at your copies with --set models_dir=DIR; to try the recipe without the published "
                    f"models, `raysift recipes demo-models DIR` writes small stand-ins"
                ) from exc


def stage_reasons(cfg: PipelineConfig) -> list[tuple[str, tuple[str, ...]]]:
    """Stages in pipeline order with the reject reasons each can give (for the funnel)."""
    from operators.dedup import exact, fuzzy, lines

    from operators import math_pages
    from operators.io import REASONS as READ_REASONS

    stages: list[tuple[str, tuple[str, ...]]] = []
    if cfg.math is not None:
        stages.append(("math_prefilter", math_pages.REASONS))
    stages.append(("extract", tuple(EXTRACT_REASONS) + READ_REASONS))  # document files: reading is the extraction
    stages += [(name, tuple(module.REASONS)) for name, module, _ in enabled_filter_stages(cfg)]
    d = cfg.dedup
    if d.lines is not None:
        stages.append(("line_dedup", (lines.LINE_DEDUP_EMPTY,)))
    if d.paragraphs is not None:
        stages.append(("paragraph_dedup", (lines.PARAGRAPH_DEDUP_EMPTY,)))
    if d.exact is not None:
        stages.append(("exact_dedup", (exact.EXACT_DUPLICATE_URL, exact.EXACT_DUPLICATE_TEXT)))
    if d.fuzzy is not None:
        stages.append(("fuzzy_dedup", (fuzzy.FUZZY_DUPLICATE,)))
    return stages
