"""``Export``: training files (LLaMA-Factory, ms-swift, TRL, HF Parquet), registration and a dataset card."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from finereason.export.card import ExportInfo, stats_from_summaries, write_card
from finereason.export.conversation import IMAGE_TAG, OTHER_MEDIA_TAGS
from finereason.export.formats import DATA_DIR, FORMATS, WORK_DIR, ExportOptions
from finereason.export.media import count_image_files
from finereason.export.stage import ExportShardLoader, ExportStage
from finereason.io.store import Dataset, DatasetError, atomic_write_json
from finereason.pipeline.engines import Engine
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.stage import Task
from finereason.pipeline.step import Step, run_batches

Format = Literal[tuple(FORMATS)]  # type: ignore[valid-type]

LLAMAFACTORY_TAGS = {
    "role_tag": "role", "content_tag": "content", "user_tag": "user",
    "assistant_tag": "assistant", "system_tag": "system",
}


class Export(Step):
    """Samples with a teacher response as training conversations; the rest rejected with a reason."""

    name: ClassVar[str] = "export"
    summary: ClassVar[str] = ("write training files: LLaMA-Factory / ms-swift JSONL, TRL or HF Parquet, "
                              "with a dataset card")
    makes_dataset: ClassVar[bool] = False

    format: Format = Field(description="training format to write")  # type: ignore[valid-type]
    images: Literal["files", "embed"] | None = Field(None, description=(
        "files: image files + paths (default for llamafactory, swift); embed: image bytes inside "
        "Parquet (default and only choice for trl, hf; also for llamafactory)"))
    image_paths: Literal["relative", "absolute"] | None = Field(None, description=(
        "paths written for image files: relative to OUTDIR (default for llamafactory, which resolves "
        "them against dataset_dir) or absolute (default for swift)"))
    system: str | None = Field(None, description="system prompt added to every conversation (default: none)",
                               json_schema_extra={"metavar": "PROMPT"})
    max_images: int | None = Field(None, ge=0, description="reject samples with more than N images",
                                   json_schema_extra={"metavar": "N"})
    name_: str | None = Field(None, alias="name", description=(
        "dataset name in dataset_info.json and the card title (default: OUTDIR's name)"),
        json_schema_extra={"metavar": "NAME"})
    license: str = Field("other", description=(
        "license id for the card's metadata (default: other; the sources' terms still apply)"),
        json_schema_extra={"metavar": "ID"})

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    def options(self) -> ExportOptions:
        """The writer's options; a system prompt with a media tag or an impossible pairing is refused."""
        for tag in (IMAGE_TAG, *OTHER_MEDIA_TAGS):
            if self.system and tag in self.system:
                raise DatasetError(f"--system contains {tag}, which trainers would count as a media placeholder")
        images = self.images or ("files" if self.format in ("llamafactory", "swift") else "embed")  # RL formats embed
        paths = self.image_paths or ("absolute" if self.format == "swift" else "relative")
        try:
            return ExportOptions(self.format, images, paths, self.system, self.max_images)
        except ValueError as e:
            raise DatasetError(str(e)) from e

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        assert src is not None and out is not None
        source = Dataset(src)
        paths = source.shard_paths()
        options = self.options()
        root = Path(out).resolve()
        name = self.name_ or root.name
        _prepare(root, overwrite)
        stage = ExportStage(options, root)
        # the input's shape is part of the identity: resuming over a re-selected input would mix two exports
        settings = {**stage.settings(), "input_shards": len(paths), "input_rows": source.count()}
        info = RunInfo(stage=stage.name, version=stage.version, settings=settings,
                       inputs=[str(source.root)], upstream=source.manifest())
        tasks = [Task(i, ExportShardLoader(i, p)) for i, p in enumerate(paths)]
        manifest = run_batches(stage, tasks, root / WORK_DIR, info, engine, overwrite=False)

        work = Dataset(root / WORK_DIR)
        data_files = sorted(str(p.relative_to(root)) for p in (root / DATA_DIR).glob("train-*"))
        exported: dict[str, Any] = {
            **manifest,
            "records_out": manifest["stats"].get("exported", 0),  # the stage keeps no samples; it writes rows
            "format": options.format,
            "name": name,
            "data_files": data_files,
            "image_files": count_image_files(root),
            "registration": _register(root, options, name),
            "rejected_records": f"{WORK_DIR}/rejected",
        }
        atomic_write_json(root / "manifest.json", exported)
        st = stats_from_summaries((c.extra["summary"] for c in work.done_counts()), exported)
        info_card = ExportInfo(options.format, name, options.images, options.image_paths, len(data_files),
                               exported["image_files"], self.license)
        write_card(st, root / "README.md", name, info_card)
        return exported

    def failure(self, manifest: dict[str, Any]) -> str | None:
        return None if manifest.get("data_files") else "nothing was exported; see the rejection reasons"


def _prepare(out: Path, overwrite: bool) -> None:
    """Fresh folder, or resume of an export; never write training files into an unrelated folder."""
    if overwrite and out.exists():
        shutil.rmtree(out)
    if out.exists() and any(out.iterdir()) and not (out / WORK_DIR / ".done" / "_run.json").exists():
        raise DatasetError(f"{out} exists and is not an export; use another --out or --overwrite")
    shutil.rmtree(out / WORK_DIR / "tmp", ignore_errors=True)  # leftovers of a killed run


def _register(out: Path, options: ExportOptions, name: str) -> str | None:
    if options.format != "llamafactory":
        return None
    entry = {
        "file_name": DATA_DIR,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": LLAMAFACTORY_TAGS,
    }
    atomic_write_json(out / "dataset_info.json", {name: entry})
    return "dataset_info.json"
