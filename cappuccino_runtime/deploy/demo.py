"""The registry stage of `cappuccino demo`: validate the top models, deploy arena + ensemble."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cappuccino_runtime.artifacts import ArtifactStore
from cappuccino_runtime.deploy.build import DeployRefused, DeployResult, deploy, deploy_source
from cappuccino_runtime.errors import ValidationFailed
from cappuccino_runtime.registry.queries import connect
from cappuccino_runtime.validation.report import ValidationReport, render_report
from cappuccino_runtime.validation.runner import ValidationOptions, validate_study

if TYPE_CHECKING:
    from rich.console import Console

    from cappuccino_runtime.settings import Settings

__all__ = ["DEMO_TOP_N", "DemoStageResult", "demo_stage", "stage_validate_deploy"]

DEMO_TOP_N = 3
"""Models per demo deployment."""


@dataclass(frozen=True)
class DemoStageResult:
    """What the demo prints next: the report and the two deployment directories."""

    report: ValidationReport
    arena: DeployResult
    ensemble: DeployResult

    @property
    def arena_dir(self) -> Path:
        """DIR/arena, holding arena_config.json."""
        return self.arena.out_dir

    @property
    def ensemble_dir(self) -> Path:
        """DIR/ensemble, holding ensemble_manifest.json."""
        return self.ensemble.out_dir


def demo_stage(
    settings: Settings,
    study_name: str,
    top_n: int,
    out_dir: Path,
    console: Console,
    options: ValidationOptions | None = None,
    min_dsr: float | None = None,
) -> DemoStageResult:
    """Validates the top N models of a study, prints the report, deploys `out_dir/arena` and
    `out_dir/ensemble`.

    Args:
        settings: storage and artifact root (Settings.from_env()).
        study_name: the study the demo trained.
        top_n: models per deployment.
        out_dir: parent of the two deployment directories.
        console: where the report is printed.
        options: validation thresholds (defaults: no value threshold).
        min_dsr: the DSR gate; models below it are deployed with the override recorded in the
            manifests (the demo's agents are too small to pass it), and the console says so.

    Raises:
        ValidationFailed: a top model failed validation (the report was printed first).
    """
    options = options or ValidationOptions()
    engine = connect(settings.storage)
    try:
        store = ArtifactStore(settings.artifact_root)
        source = deploy_source(engine, study_name)
        report, _ = validate_study(engine, store, source, top_n, options)
        render_report(report, console)
        if not report.passed:
            raise ValidationFailed(
                f"The top {top_n} models of study {study_name!r} failed validation: "
                f"{report.summary_line()}"
            )
        try:
            arena = deploy(
                "arena",
                engine,
                store,
                study_name,
                top_n,
                out_dir / "arena",
                options=options,
                min_dsr=min_dsr,
                allow_low_dsr=min_dsr is not None,
            )
            ensemble = deploy(
                "ensemble",
                engine,
                store,
                study_name,
                top_n,
                out_dir / "ensemble",
                options=options,
                min_dsr=min_dsr,
                allow_low_dsr=min_dsr is not None,
            )
        except DeployRefused as e:
            render_report(e.report, console)
            raise
        dsr_gate = getattr(arena.manifest, "dsr_gate", None)
        if dsr_gate is not None and dsr_gate.overridden:
            console.print(
                f"DSR gate {dsr_gate.threshold}: some models are below it (or have no DSR); "
                "deployed anyway for the demo, and the override is recorded in both manifests. "
                "`cappuccino deploy` refuses them unless --allow-low-dsr is given.",
                markup=False,
            )
        console.print(
            f"Deployed {arena.manifest.model_count} models of study {source!r}: "
            f"arena {arena.manifest_path}, ensemble {ensemble.manifest_path}",
            markup=False,
        )
        return DemoStageResult(report=report, arena=arena, ensemble=ensemble)
    finally:
        engine.dispose()


def stage_validate_deploy(ctx: Any) -> DemoStageResult:
    """A `cappuccino_runtime.demo` stage: `demo_stage` on the demo context.

    Reads `ctx.settings`, `ctx.study_name` and `ctx.console`; deploys under
    `{home}/deployments/{arena,ensemble}`. Append it to `demo.STAGES` as
    `("validate + deploy", stage_validate_deploy)`.
    """
    settings = ctx.settings
    return demo_stage(
        settings,
        ctx.study_name,
        DEMO_TOP_N,
        Path(settings.home) / "deployments",
        ctx.console,
        min_dsr=ctx.min_dsr,
    )
