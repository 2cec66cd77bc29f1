"""The ``advex`` command line: ``envs``, ``collect``, ``coverage``, ``fit``, ``eval``,
``compare``, ``report``.

Each subcommand is a thin shell over library calls; errors the user can fix (unknown task,
bad file, bad numbers, a bad flag value) are printed as one line ``advex: error: ...`` with
exit status 2, before any work is done.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from advex.envs.episodes import EPISODE_MODES

if TYPE_CHECKING:
    from advex.engine.coverage import CoverageSet


def _cmd_envs(args: argparse.Namespace) -> None:
    from advex.envs import gymnasium_mujoco_ids, list_tasks, task_table

    built_in = list_tasks()
    names = built_in + [i for i in gymnasium_mujoco_ids() if i not in built_in]
    print(f"{'task':<26} {'obs':>4} {'act':>4} {'T':>5}  {'reward':<11}  {'planner':<9}  "
          "description")
    for r in task_table(names):
        print(
            f"{r['name']:<26} {r['obs_dim']:>4} {r['act_dim']:>4} "
            f"{r['max_episode_steps']:>5}  {r['reward']:<11}  {r['planner']:<9}  "
            f"{r['description']}"
        )
    print(
        "\nAny other Gymnasium MuJoCo id works too (derived from the env, learned reward), and "
        "your own env\nas --task my_pkg.envs:MyRobot-v0 (the module is imported, then the id is "
        "made).\nclosed form: planners use the task's batched reward/termination functions; "
        "learned:\nheads fitted on the buffer's rewards and termination flags "
        "(advex.models.reward_head).\nplanner: advex plan's default horizon/candidates/"
        "iterations on the task (measured on the true simulator; flags override them)."
    )


def _check_out_file(path: Path) -> None:
    """One clear line, before any work, when ``path`` cannot become the output file."""
    import os

    if path.is_dir():
        raise ValueError(f"--out {path} is a directory; give a file path")
    parent = path.parent
    while not parent.exists():  # the nearest existing folder must take new entries
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {path}: cannot write into {parent}")


def _cmd_collect(args: argparse.Namespace) -> None:
    from advex.envs.frames import FrameSpec
    from advex.exploration.collect import collect

    _check_out_file(args.out)
    frames = None if args.frames is None else FrameSpec(args.frames, args.frame_color)
    buffer = collect(
        args.task,
        n_steps=args.steps,
        seed=args.seed,
        n_envs=args.n_envs,
        vectorization=args.vectorization,
        episodes=args.episodes,
        progress=not args.quiet,
        frames=frames,
    )
    buffer.meta["episodes"] = args.episodes
    path = buffer.save(args.out)
    episodes = len(set(buffer.episode_id.tolist()))
    with_frames = f", frames {buffer.frame_shape}" if buffer.has_frames else ""
    print(f"wrote {len(buffer)} transitions ({episodes} episodes{with_frames}) of {args.task} "
          f"to {path}")


def _coverage_for(task: str, seed: int, episodes: str, quiet: bool) -> CoverageSet:
    from advex.engine.coverage import CoverageConfig, load_or_build_coverage

    return load_or_build_coverage(
        task, seed, CoverageConfig(episodes=episodes), progress=not quiet
    )


def _cmd_coverage(args: argparse.Namespace) -> None:
    from advex.engine.coverage import SOURCE_NAMES, CoverageConfig, load_or_build_coverage

    _check_out_file(args.out)
    config = CoverageConfig(
        episodes=args.episodes,
        n_starts=args.n_starts,
        horizon=args.horizon,
        sb3_algo=args.sb3_algo,
    )
    coverage = load_or_build_coverage(args.task, args.seed, config, progress=not args.quiet)
    path = coverage.to_buffer().save(args.out)
    summary = coverage.summary()
    pools = ", ".join(f"{name} {summary['sources'][name]}" for name in SOURCE_NAMES)
    print(
        f"wrote the {args.task} coverage set (seed {args.seed}, {args.episodes} episodes) to "
        f"{path}: {len(coverage)} transitions from {coverage.n_starts} starts ({pools}); "
        f"{summary['n_terminated_rollouts']} rollouts terminated before {coverage.horizon} "
        "steps. Columns start_pool (index into "
        f"{','.join(SOURCE_NAMES)}) and rollout_step; read it with ReplayBuffer.load."
    )


def _print_metrics(title: str, metrics: dict[str, float]) -> None:
    print(title)
    for name, value in metrics.items():
        print(f"  {name:<26} {value:.6g}")


def _cmd_generative_train(args: argparse.Namespace) -> None:
    from advex.envs.frames import FrameError
    from advex.exploration.buffer import ReplayBuffer
    from advex.models.frame_model import train_frame_model
    from advex.models.frame_vae import FrameVAEConfig
    from advex.models.latent_dynamics import LatentDynamicsConfig

    _check_out_file(args.out)
    buffer = ReplayBuffer.load(args.buffer)
    if args.kind == "gan":
        _train_state_gan(args, buffer)
        return
    if not buffer.has_frames:
        raise ValueError(f"{args.buffer} holds no frames; collect with frames "
                         "(advex collect --frames 64)")
    if args.kind == "draw":
        _train_draw(args, buffer)
        return
    if args.coverage_starts < 0:
        raise ValueError(f"--coverage-starts must be >= 0, got {args.coverage_starts}")
    try:
        vae_config = FrameVAEConfig.for_frames(buffer.frame_shape, latent_dim=args.latent,
                                               steps=args.steps, decoder=args.decoder)
    except FrameError as error:
        raise ValueError(f"{args.buffer}: {error}") from None
    dynamics_config = LatentDynamicsConfig(steps=args.dynamics_steps)
    model, figures = train_frame_model(buffer, vae_config, dynamics_config, seed=args.seed,
                                       progress=not args.quiet)
    model.save(args.out)
    print(f"wrote a frame model (VAE latent {args.latent}, {args.decoder} decoder, latent "
          f"dynamics) of {model.task or 'an unnamed task'} to {args.out}")
    for name, value in figures.items():
        print(f"  {name:<22} {value:.6g}")
    if args.coverage_starts and model.task:
        from advex.analysis.coverage_frames import frame_model_errors

        coverage = _coverage_for(model.task, args.seed, buffer.meta.get("episodes", "env"),
                                 args.quiet)
        print("frame prediction MSE on the coverage set's rollouts (pixels in [0, 1]):")
        print("  " + " ".join(f"{h:>10}" for h in ("steps", "starts", "model", "z'=z", "copy")))
        for row in frame_model_errors(model, coverage, args.coverage_starts, seed=args.seed):
            print(f"  {row['horizon']:>10} {row['starts']:>10} {row['model']:>10.5f} "
                  f"{row['constant']:>10.5f} {row['copy']:>10.5f}")


def _train_state_gan(args: argparse.Namespace, buffer: Any) -> None:
    from advex.models.state_gan import train_state_gan

    gan, figures = train_state_gan(buffer, args.steps, seed=args.seed, progress=not args.quiet)
    gan.save(args.out)
    print(f"wrote a GAN of the {buffer.obs_dim}-dimensional states of "
          f"{buffer.meta.get('task', 'an unnamed task')} to {args.out}")
    if figures:
        print("  held-out states, per-dimension KS distance (mean, max) of samples from:")
        for name in ("gan", "gaussian", "train"):
            print(f"    {name:<9} {figures[f'{name}_ks_mean']:.4f}  "
                  f"{figures[f'{name}_ks_max']:.4f}")


def _train_draw(args: argparse.Namespace, buffer: Any) -> None:
    import torch

    from advex.analysis.draw_plot import plot_draw_steps
    from advex.envs.frames import grey_unit
    from advex.models.draw import DRAW, DRAWConfig
    from advex.models.frame_model import episode_split

    frames = buffer.frames()[0]
    train, test = episode_split(buffer.episode_id, 0.1)
    # the frame VAE's contrast stretch: divide by the brightest training pixel
    images = grey_unit(frames, pixel_max=max(1, int(frames[train].max())))
    height, width = images.shape[1:]
    config = DRAWConfig(height=height, width=width, attention=not args.no_attention,
                        read_attention=not args.no_read_attention,
                        canvas_from_mean=not args.grey_canvas, glimpses=args.glimpses,
                        read_n=args.read_n, write_n=args.write_n,
                        latent_dim=args.latent, train_steps=args.steps)
    model = DRAW(config, seed=args.seed)
    model.fit(images[train], seed=args.seed, progress=not args.quiet)
    model.save(args.out)
    attention = ("no attention" if args.no_attention else
                 f"whole-frame reads, write attention {args.write_n}" if args.no_read_attention
                 else f"attention {args.read_n}/{args.write_n}")
    print(f"wrote a DRAW model ({config.glimpses} glimpses, {attention}) to {args.out}")
    if len(test):
        held, gen = torch.as_tensor(images[test]), torch.Generator().manual_seed(args.seed)
        with torch.no_grad():  # in chunks: DRAW keeps T canvases per frame
            parts = [model(held[i:i + 256], gen) for i in range(0, len(held), 256)]
        recon = float(torch.cat([p.reconstruction for p in parts]).mean())
        kl = float(torch.cat([p.kl for p in parts]).mean())
        print(f"  heldout_loss          {recon + kl:.6g}  (nats per frame: reconstruction "
              f"{recon:.6g} + KL {kl:.6g})")
        steps = args.out.with_suffix(".steps.png")
        plot_draw_steps(model, images[test][:4], steps, seed=args.seed)
        print(f"  glimpses of 4 held-out frames: {steps}")


def _cmd_generative_sample(args: argparse.Namespace) -> None:
    import imageio.v2 as imageio
    import numpy as np

    from advex.models.frame_model import FrameModel

    _check_out_file(args.out)
    from advex.models.draw import DRAW
    from advex.models.generative_data import GenerativeCheckpointError

    try:
        frames = FrameModel.load(args.model).vae.sample(args.n, seed=args.seed).numpy()
    except GenerativeCheckpointError as error:
        if "advex-gan" in str(error):
            _sample_state_gan(args)
            return
        if "advex-draw" not in str(error):  # missing, damaged, another kind: its own line
            raise
        frames = DRAW.load(args.model).generate(args.n, seed=args.seed).numpy()[..., None]
    columns = int(np.ceil(np.sqrt(args.n)))
    height, width, colors = frames.shape[1:]
    grid = np.ones(((args.n + columns - 1) // columns * (height + 2), columns * (width + 2),
                    colors), dtype=np.float32)
    for i, frame in enumerate(frames):
        r, c = divmod(i, columns)
        top, left = r * (height + 2), c * (width + 2)
        grid[top:top + height, left:left + width] = frame
    image = (grid * 255).round().astype(np.uint8)
    imageio.imwrite(args.out, image[..., 0] if colors == 1 else image)
    print(f"wrote {args.n} samples of {args.model} to {args.out}")


def _sample_state_gan(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from advex.models.gan import GAN

    n = max(args.n, 1000)  # a histogram of 16 draws says nothing
    samples = GAN.load(args.model).sample(n, seed=args.seed).numpy()
    dims = samples.shape[1]
    columns = min(dims, 4)
    fig, axes = plt.subplots((dims + columns - 1) // columns, columns, squeeze=False,
                             figsize=(3 * columns, 2.2 * ((dims + columns - 1) // columns)))
    for d, ax in enumerate(axes.flat):
        if d < dims:
            ax.hist(samples[:, d], bins=50, color="tab:blue")
            ax.set_title(f"state dim {d}", fontsize=9)
        else:
            ax.axis("off")
    fig.suptitle(f"{n} GAN samples, one histogram per state dimension", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    plt.close(fig)
    print(f"wrote histograms of {n} samples of {args.model} to {args.out}")


def _cmd_fit(args: argparse.Namespace) -> None:
    from advex.device import resolve_device
    from advex.engine.metrics import SupportBox, evaluate_model
    from advex.envs import check_dims
    from advex.exploration.buffer import ReplayBuffer
    from advex.models import TrainConfig, make_model

    _check_out_file(args.out)
    device = resolve_device(args.device)
    buffer = ReplayBuffer.load(args.buffer)
    recorded = buffer.meta.get("task")
    task = args.task or recorded
    if task is None:
        raise ValueError(f"{args.buffer} does not record its task; pass --task")
    if recorded is not None and task != recorded:
        raise ValueError(f"{args.buffer} holds {recorded} transitions, not {task}")
    check_dims(task, buffer.obs_dim, buffer.act_dim, f"buffer {args.buffer}")
    episodes = args.episodes or buffer.meta.get("episodes", "env")
    model = make_model(args.model, buffer.obs_dim, buffer.act_dim)
    history = model.fit(
        buffer, TrainConfig(max_epochs=args.epochs, device=device), seed=args.seed,
        progress=not args.quiet,
    )
    model.to("cpu")  # saved and scored on the CPU, wherever it trained
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.meta["task"] = task
    model.save(args.out)
    print(
        f"trained {args.model} on {len(buffer)} transitions of {task}: "
        f"{history.epochs} epochs, best val loss {min(history.val_loss):.4g}; saved {args.out}"
    )
    batch = buffer.batch()
    metrics = evaluate_model(
        model,
        _coverage_for(task, args.coverage_seed, episodes, args.quiet),
        support=SupportBox.of(batch.obs, batch.act),
    )
    _print_metrics(
        f"held-out coverage set ({task}, seed {args.coverage_seed}, {episodes} episodes):",
        metrics,
    )


def _cmd_eval(args: argparse.Namespace) -> None:
    from advex.engine.metrics import evaluate_model
    from advex.envs import check_dims
    from advex.models import TransitionModel

    model = TransitionModel.load(args.model)
    check_dims(args.task, model.obs_dim, model.act_dim, f"model {args.model}")
    fitted_on = model.meta.get("task")
    if fitted_on is not None and fitted_on != args.task:
        raise ValueError(f"model {args.model} was fitted on {fitted_on}, not {args.task}")
    coverage = _coverage_for(args.task, args.coverage_seed, args.episodes, args.quiet)
    metrics = evaluate_model(model, coverage)
    _print_metrics(
        f"{args.model} on the {args.task} coverage set (seed {args.coverage_seed}, "
        f"{args.episodes} episodes):",
        metrics,
    )


def _name_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _cmd_compare(args: argparse.Namespace) -> None:
    from advex.analysis.report import write_report
    from advex.atomic_io import read_json
    from advex.device import resolve_device
    from advex.engine.compare import run_compare
    from advex.engine.experiment import ExperimentConfig

    given = read_json(args.config) if args.config else {}
    if not isinstance(given, dict):
        raise ValueError(
            f"{args.config}: expected a JSON object of ExperimentConfig fields, got a "
            f"{type(given).__name__}"
        )
    overrides = dict(given)
    if args.resume:
        if args.out is None:
            raise ValueError("--resume needs --out, the folder of the run to continue")
        saved = args.out / "config.json"
        if not saved.is_file():
            raise ValueError(
                f"{args.out}: nothing to resume (no config.json: a mistyped --out, or a run "
                "killed before it started); start it without --resume"
            )
        saved_config = read_json(saved)
        if not isinstance(saved_config, dict):
            raise ValueError(f"{saved}: damaged (not a JSON object)")
        named = [("task", saved_config.get("task"), args.config_task)] + [
            ("strategy", name, args.config_strategies)
            for name in saved_config.get("strategies", [])
        ]
        for what, value, flag in named:
            if isinstance(value, str) and ":" in value and flag is None \
                    and not args.trust_run_folder:
                raise ValueError(
                    f"{saved} names the {what} {value!r}, which imports the module "
                    f"{value.rsplit(':', 1)[0]!r} (code runs on import); resume with "
                    f"--trust-run-folder if you trust this folder, or name the {what} with "
                    f"--{'task' if what == 'task' else 'strategies'}"
                )
        overrides = {**saved_config, **overrides}
    for flag, path, _ in COMPARE_CONFIG_FLAGS:
        value = getattr(args, _dest(flag))
        if value is None:
            continue
        if "." in path:  # on top of the run's nested settings, else the defaults
            field_name, key = path.split(".")
            base = overrides.get(field_name, getattr(ExperimentConfig(), field_name))
            overrides[field_name] = {**base, key: value}
        else:
            overrides[path] = value
    if args.config_model is not None and "model_config" not in given:
        # another kind: keep the architecture fields it shares (hidden sizes), drop the rest
        from dataclasses import fields

        from advex.models.factory import MODEL_KINDS

        if args.config_model in MODEL_KINDS:
            known = {f.name for f in fields(MODEL_KINDS[args.config_model][1])}
            base = overrides.get("model_config", ExperimentConfig().model_config)
            overrides["model_config"] = {k: v for k, v in base.items() if k in known}
    cfg = ExperimentConfig.from_dict(overrides)
    device = resolve_device(args.device)
    out = args.out or Path("runs") / (cfg.task.replace("/", "_") if overrides else "default")
    print(
        f"advex compare: {cfg.task}, strategies {','.join(cfg.strategies)}, seeds "
        f"{cfg.seeds}, {cfg.steps} steps in rounds of {cfg.round_steps}, models on {device} "
        f"-> {out}"
    )
    frame = run_compare(
        cfg,
        out,
        resume=args.resume,
        backend=args.backend,
        workers=args.workers,
        progress=not args.quiet,
        trust_run_folder=args.trust_run_folder,
        device=device,
        max_hours=args.max_hours,
        tensorboard=not args.no_tensorboard,
    )
    print(write_report(out, frame))
    print(
        f"results: {out / 'results.parquet'} (and .csv), plot: "
        f"{out / 'sample_efficiency.png'}, report: {out / 'report.md'}"
    )


def _cmd_report(args: argparse.Namespace) -> None:
    from advex.analysis.grid_report import find_runs, write_grid_report
    from advex.analysis.report import write_report
    from advex.engine.results import RESULTS_FILE, is_partial

    runs: list[Path] = args.runs
    if len(runs) == 1 and args.out is None and (
        (runs[0] / RESULTS_FILE).is_file() or is_partial(runs[0])
    ):
        print(write_report(runs[0]))  # one run folder (finished, running or killed)
        return
    if args.out is None:
        if len(runs) > 1:
            raise ValueError("advex report of several folders needs --out, the grid folder")
        find_runs(runs)  # a clear error for a file or an empty folder, before anything else
        args.out = runs[0]
    print(write_grid_report(runs, args.out))
    print(f"grid report: {args.out / 'report.md'}, headline: {args.out / 'headline.csv'}")


def _cmd_plan(args: argparse.Namespace) -> None:
    from advex.analysis.statistics import bootstrap_ci, mean
    from advex.engine.planning import PlanConfig, run_planning

    if args.out is not None:
        _check_out_file(args.out)
    config = PlanConfig(  # every value is checked here, before any env is built
        task=args.task, model=args.model, strategy=args.strategy, run_seed=args.run_seed,
        buffer=args.buffer, planner=args.planner, episodes=args.episodes, horizon=args.horizon,
        candidates=args.candidates, iterations=args.iterations, particles=args.particles,
        propagation=args.propagation, max_steps=args.max_steps, seed=args.seed,
    )
    frame = run_planning(config, progress=not args.quiet)
    for row in frame.to_dict("records"):
        print(f"episode {row['episode']}: return {row['return']:.1f} over {row['steps']} "
              f"steps, {row['ms_per_action']:.1f} ms per action")
    returns = frame["return"].to_numpy()
    low, high = bootstrap_ci(returns, statistic=mean)
    ci = f"95% CI {low:.1f}, {high:.1f}" if len(returns) > 1 else "one episode: no CI"
    print(f"{frame['model'].iloc[0]} on {frame['task'].iloc[0]}: mean return "
          f"{returns.mean():.1f} [{ci}] over {len(returns)} episodes, "
          f"{frame['ms_per_action'].mean():.1f} ms per action")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.out, index=False)
        print(f"wrote {args.out}")


def _add_device_argument(p: argparse.ArgumentParser, note: str) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="where the models train: auto (a CUDA GPU if torch sees one, else the CPU), cpu, "
        f"cuda or cuda:N; {note}",
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


class _OneLineParser(argparse.ArgumentParser):
    """Bad flags end in one line ``advex: error: ...`` (exit 2), like every other advex error;
    ``--help`` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"advex: error: {message}\n")


EPISODES_HELP = (
    "episode rules: 'env' (the task's termination ends episodes and coverage rollouts) or "
    "'free' (no termination; episodes end at the time limit)"
)


#: Help of every --task option.
TASK_HELP = ("a built-in task, any Gymnasium MuJoCo id (Walker2d-v5) or your own as "
             "module:Id (advex envs lists them)")
#: Help of every --quiet option.
QUIET_HELP = "no progress bars"


#: ``advex compare``'s flags that set a field of the :class:`ExperimentConfig`, declared once:
#: ``(flag, field, argparse options)``; ``"evaluation.fit_seeds"`` sets one key of a nested
#: config. The parser adds them from here and :func:`_cmd_compare` applies them from here, on
#: top of ``--config`` (and of the saved config with ``--resume``).
COMPARE_CONFIG_FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--task", "task", {"help": TASK_HELP + " (default InvertedPendulum-v5)"}),
    ("--strategies", "strategies",
     {"type": _name_list, "help": "comma-separated, e.g. random,adversarial-sf"}),
    ("--seeds", "seeds", {"type": _int_list, "help": "comma-separated, e.g. 0,1,2"}),
    ("--steps", "steps", {"type": _positive_int, "help": "env steps per run"}),
    ("--round", "round_steps", {"type": _positive_int, "help": "env steps per round"}),
    ("--model", "model", {"help": "mlp, ensemble or cgan"}),
    ("--n-envs", "n_envs",
     {"type": _positive_int, "help": "envs each strategy steps side by side (default 1)"}),
    ("--episodes", "episodes", {"choices": EPISODE_MODES, "help": EPISODES_HELP}),
    ("--fit-seeds", "evaluation.fit_seeds",
     {"type": _positive_int, "help": "fresh evaluation fits per evaluation point (default 2)"}),
    ("--eval-points", "evaluation.points",
     {"choices": ["every", "log"], "help": "evaluate after every round, or after rounds 1, 2, "
      "4, 8, ... and the last (default: log)"}),
)


def _dest(flag: str) -> str:
    """The ``argparse`` attribute of a compare config flag (one per config field)."""
    return "config_" + flag.lstrip("-").replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="advex",
        description="Adversarial exploration for robust robot transition models (MuJoCo).",
    )
    sub = parser.add_subparsers(dest="command", required=True, help="what to do")

    p = sub.add_parser(
        "envs", help="list the built-in tasks and Gymnasium's MuJoCo tasks with their sizes"
    )
    p.set_defaults(func=_cmd_envs)

    p = sub.add_parser("collect", help="collect random transitions into a buffer file")
    p.add_argument("--task", default="InvertedPendulum-v5", help=TASK_HELP)
    p.add_argument("--steps", type=_positive_int, default=10_000,
                   help="env steps to collect, over all envs (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the actions and resets (default 0)")
    p.add_argument("--n-envs", type=_positive_int, default=1,
                   help="envs stepped side by side (default 1)")
    p.add_argument("--vectorization", choices=["lean", "async"], default="lean",
                   help="lean: in-process envs with contact labels (default); async: Gymnasium's "
                   "subprocess envs, worth it only for expensive envs")
    p.add_argument("--episodes", choices=EPISODE_MODES, default="env", help=EPISODES_HELP)
    p.add_argument("--out", type=Path, default=Path("data/buffer.npz"),
                   help="buffer file to write (default data/buffer.npz)")
    p.add_argument(
        "--frames", type=_positive_int, default=None, metavar="SIZE",
        help="also render each observation offscreen as a SIZE x SIZE uint8 frame (MUJOCO_GL="
        "egl on a machine with no screen); stored compressed beside the vectors",
    )
    p.add_argument("--frame-color", choices=["grey", "rgb"], default="grey",
                   help="with --frames: one grey channel (default) or three colour channels")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser(
        "coverage",
        help="write a task's held-out coverage set as an ordinary buffer file",
        description="Build (or take from the cache) the coverage set that scores models and "
        "write it with ReplayBuffer.save: obs, act, next_obs, reward, terminated, truncated, "
        "episode_id (= start), plus columns start_pool and rollout_step.",
    )
    p.add_argument("--task", required=True, help=TASK_HELP)
    p.add_argument("--seed", type=int, default=0, help="the coverage set's seed (default 0)")
    p.add_argument("--episodes", choices=EPISODE_MODES, default="env", help=EPISODES_HELP)
    p.add_argument("--n-starts", type=_positive_int, default=2000,
                   help="start states, each rolled out open-loop (default 2000)")
    p.add_argument("--horizon", type=_positive_int, default=20,
                   help="steps recorded from each start (default 20)")
    p.add_argument("--sb3-algo", choices=["sac", "ppo"], default="sac",
                   help="agent whose states form the trained-policy pool (default sac)")
    p.add_argument("--out", type=Path, required=True, help="buffer file to write")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=_cmd_coverage)

    p = sub.add_parser("fit", help="train a transition model on a buffer; print held-out metrics")
    p.add_argument("--buffer", type=Path, required=True, help="buffer file to train on")
    p.add_argument("--model", default="ensemble", help="mlp, ensemble or cgan")
    p.add_argument("--out", type=Path, required=True, help="model file to write (.pt)")
    p.add_argument("--task", default=None, help="default: the task recorded in the buffer")
    p.add_argument("--epochs", type=_positive_int, default=200, help="max epochs")
    _add_device_argument(p, "the saved model is a CPU model either way")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights and minibatches (default 0)")
    p.add_argument("--coverage-seed", type=int, default=0,
                   help="which coverage set scores the model (default 0)")
    p.add_argument(
        "--episodes", choices=EPISODE_MODES, default=None,
        help="the coverage set's episode rules (default: the buffer's, else 'env')",
    )
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("eval", help="score a saved model on a task's held-out coverage set")
    p.add_argument("--model", type=Path, required=True, help="a model file (advex fit)")
    p.add_argument("--task", required=True, help=TASK_HELP)
    p.add_argument("--coverage-seed", type=int, default=0,
                   help="which coverage set scores the model (default 0)")
    p.add_argument("--episodes", choices=EPISODE_MODES, default="env", help=EPISODES_HELP)
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser(
        "compare",
        help="exploration strategies vs held-out model error per env step (the main job)",
        description="With no arguments: the embedded default (InvertedPendulum-v5, random vs "
        "adversarial vs disagreement, one seed, a few minutes on 2 cores).",
    )
    for flag, path, options in COMPARE_CONFIG_FLAGS:
        metavar = None if "choices" in options else flag.lstrip("-").upper().replace("-", "_")
        p.add_argument(flag, dest=_dest(flag), default=None, metavar=metavar,
                       **{**options, "help": f"{options['help']} [config: {path}]"})
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="JSON file of ExperimentConfig fields (flags override it)",
    )
    p.add_argument("--out", type=Path, default=None,
                   help="the run folder (default runs/default, or runs/<task> with flags)")
    p.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    p.add_argument(
        "--trust-run-folder", action="store_true",
        help="let --resume unpickle the SB3 agents saved in --out (sb3-ppo/sb3-sac runs; "
        "pickle can run arbitrary code, so only for a folder you trust)",
    )
    p.add_argument("--backend", choices=["process", "ray", "serial"], default="process",
                   help="process: a local pool (default); ray: a Ray cluster (RAY_ADDRESS, "
                   "else a local one); serial: in this process")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="parallel jobs (default: one per core, at most one per job)")
    p.add_argument(
        "--max-hours",
        type=_positive_float,
        default=None,
        help="time the first round, then stop with one line if the whole run would take "
        "longer than this (a lower-bound estimate; the timed round is kept for --resume)",
    )
    _add_device_argument(p, "not saved with the run, so a run may resume on another machine")
    p.add_argument(
        "--no-tensorboard", action="store_true",
        help="do not write TensorBoard event files (runs/<job>/tb; view them with "
        "`tensorboard --logdir OUT/runs`)",
    )
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "generative",
        help="generative models of the robot's frames and states: train, sample",
    )
    gen = p.add_subparsers(dest="generative_command", required=True, help="what to do")
    g = gen.add_parser("train", help="train a frame VAE and its latent dynamics (or DRAW) on a "
                       "buffer's frames, or a GAN on its states; held-out scores")
    g.add_argument("--kind", choices=["vae", "draw", "gan"], default="vae",
                   help="vae: VAE + latent dynamics; draw: DRAW (grey frames); gan: a GAN of "
                   "the buffer's states (no frames needed)")
    g.add_argument("--buffer", type=Path, required=True,
                   help="a buffer (with frames for vae and draw)")
    g.add_argument("--out", type=Path, required=True, help="model file to write")
    g.add_argument("--latent", type=_positive_int, default=16,
                   help="latent dimensions (default 16)")
    g.add_argument("--decoder", choices=["bernoulli", "gaussian"], default="bernoulli",
                   help="vae: pixel likelihood (default bernoulli)")
    g.add_argument("--steps", type=_positive_int, default=2000,
                   help="training steps (VAE, DRAW or GAN)")
    g.add_argument("--dynamics-steps", type=_positive_int, default=3000,
                   help="vae: training steps of the latent dynamics (default 3000)")
    g.add_argument("--no-attention", action="store_true", help="draw: read/write whole frames")
    g.add_argument("--no-read-attention", action="store_true",
                   help="draw: read whole frames, write through the attention window")
    g.add_argument("--grey-canvas", action="store_true",
                   help="draw: start the canvas at grey (the paper), not at the mean frame")
    g.add_argument("--glimpses", type=_positive_int, default=8, help="draw: T")
    g.add_argument("--read-n", type=_positive_int, default=5, help="draw: read grid N x N")
    g.add_argument("--write-n", type=_positive_int, default=12,
                   help="draw: write patch N x N (on 32 x 32 pendulum frames 12 beats no "
                   "attention at 2000 steps and 5 ends about 2 nats worse: docs/benchmarks.md)")
    g.add_argument("--coverage-starts", type=int, default=200,
                   help="coverage rollouts to score frame predictions on (0: skip)")
    g.add_argument("--seed", type=int, default=0, help="seed of weights and batches (default 0)")
    g.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    g.set_defaults(func=_cmd_generative_train)
    g = gen.add_parser("sample", help="a PNG of samples: a grid of frames (VAE, DRAW) or "
                       "histograms of states (GAN)")
    g.add_argument("--model", type=Path, required=True, help="a model file (generative train)")
    g.add_argument("--out", type=Path, required=True, help="PNG file to write")
    g.add_argument("--n", type=_positive_int, default=16, help="samples to draw (default 16)")
    g.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    g.set_defaults(func=_cmd_generative_sample)

    p = sub.add_parser(
        "plan",
        help="MPC in the real env on a learned model, a compare run's strategy model, or the "
        "true simulator (the bound); per-episode return, mean with CI, ms per action",
    )
    p.add_argument("--task", default="InvertedPendulum-v5", help=TASK_HELP)
    p.add_argument(
        "--model", default="sim",
        help="a model file, a compare run folder (with --strategy), or 'sim' (default)",
    )
    p.add_argument("--strategy", default=None, help="with a run folder: whose model to plan with")
    p.add_argument("--run-seed", type=int, default=None, help="with a run folder: which seed")
    p.add_argument("--buffer", default=None,
                   help="transitions to learn a reward from, for tasks without a closed form")
    p.add_argument("--planner", default="cem",
                   help="the optimiser: rs (random shooting), cem (default) or mppi")
    p.add_argument("--episodes", type=int, default=3, help="episodes to run (default 3)")
    p.add_argument("--horizon", type=int, default=None,
                   help="env steps planned ahead (default: the task's measured default; "
                   "advex envs lists them; 15 for other tasks)")
    p.add_argument("--candidates", type=int, default=None,
                   help="action sequences scored per optimiser iteration (default: the task's; "
                   "200 for other tasks)")
    p.add_argument("--iterations", type=int, default=None,
                   help="CEM/MPPI refinements per action (default: the task's; 3 for other "
                   "tasks; random shooting has one)")
    p.add_argument("--particles", type=int, default=1,
                   help="imagined rollouts per candidate, for PETS propagation (default 1)")
    p.add_argument("--propagation", default="mean",
                   help="how particles use an ensemble's members: mean (default: the members' "
                   "mean), ts1 (a random member each step) or tsinf (one member per particle)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="cap on episode length in env steps (default: the task's time limit)")
    p.add_argument("--seed", type=int, default=0, help="seed of env resets and planner (default 0)")
    p.add_argument("--out", type=Path, default=None, help="CSV of the episodes")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser(
        "report",
        help="rebuild summary, plot and report.md from saved runs (one run, or a grid: several "
        "run folders, or a folder of run folders, merged into one headline table)",
    )
    p.add_argument("runs", type=Path, nargs="+", metavar="run", help="run or grid folder(s)")
    p.add_argument(
        "--out", type=Path, default=None,
        help="where a grid's report.md and headline.csv go (default: the one grid folder given)",
    )
    p.set_defaults(func=_cmd_report)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError, RuntimeError) as e:
        # One line naming the problem; the traceback helps nobody who typed a wrong name.
        print(f"advex: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("advex: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
