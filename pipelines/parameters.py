"""The pipeline parameters: name, type, default and description, in one place.

The pipeline function (``pipelines.factory``) takes exactly these parameters with these
defaults; the descriptions become the parameter descriptions of the compiled pipeline (the KFP
UI shows them) and the README's parameter table (``pipelines.parameter_docs``), and ``nasdet
submit`` / ``nasdet schedule`` / ``nasdet run --set`` convert ``NAME=VALUE`` strings with their
types and checks (``pipelines.parameter_values``). The local presets of ``nasdet run`` are small
sets of overrides of these defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from components import blessing_rules
from components.artifacts.examples import DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION
from components.data.readers import FORMATS
from components.detector.zero_cost import score_names
from components.errors import UserError
from components.export.formats import FORMATS as EXPORT_FORMATS
from components.export.formats import parse_names as parse_export_formats
from components.tuner_settings import BASE_LATENCY, LATENCY_WEIGHT_RANGE, MIN, parse_max_latency
from components.tuner_settings import PIPELINE as SEARCH


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One pipeline parameter: its name, Python type (str, int, float, bool), default and
    description; numbers may have bounds, and ``check`` (raising ValueError with the reason)
    validates values a type and bounds cannot describe."""

    name: str
    type: type
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    check: Callable[[Any], Any] | None = None


def _rule(name: str, description: str) -> Parameter:
    """The parameter of blessing rule ``name``: type, default and bounds from the rule itself."""
    low, high = blessing_rules.bounds(name)
    return Parameter(
        name,
        blessing_rules.rule_type(blessing_rules.rule_field(name)),
        getattr(blessing_rules.DEFAULT_RULES, name),
        description,
        low=low,
        high=high,
    )


def _known_score(name: str) -> None:
    if name not in score_names():
        raise ValueError(f"unknown score {name!r} (known: {', '.join(score_names())})")


def _known_export_formats(text: str) -> None:
    try:
        parse_export_formats(text)
    except UserError as err:
        raise ValueError(str(err)) from None


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "data_path",
        str,
        "",
        "Annotations to ingest: the COCO instances JSON, or the folder of VOC XML / YOLO txt "
        "files. Empty: the raccoon sample bundled in the image (VOC).",
    ),
    Parameter(
        "data_format",
        str,
        "voc",
        f"Annotation format of data_path: {', '.join(FORMATS[:-1])} or {FORMATS[-1]}.",
    ),
    Parameter(
        "images_dir",
        str,
        "",
        "Folder of the image files. Empty: looked up beside the annotations (their folder, ../images, ...).",
    ),
    Parameter(
        "classes_file",
        str,
        "",
        "YOLO class names: a text file with one name per line or an Ultralytics data YAML.",
    ),
    Parameter(
        "val_fraction",
        float,
        DEFAULT_VAL_FRACTION,
        "Fraction of the images hashed into the val split, on which the search scores its "
        "trials and training picks its epoch (when the source states no val split).",
        low=0.0,
        high=1.0,
    ),
    Parameter(
        "test_fraction",
        float,
        DEFAULT_TEST_FRACTION,
        "Fraction of the images hashed into the test split, the only split evaluate, the gate "
        "and the reported AP use (when the source states no test split).",
        low=0.0,
        high=1.0,
    ),
    Parameter(
        "beam_args",
        str,
        "",
        "Apache Beam pipeline options for ingestion, space separated "
        "(e.g. --runner=FlinkRunner --flink_master=flink:8081). Empty: in process, or the "
        "DirectRunner's multi-processing engine for large inputs on 3 or more cores.",
    ),
    Parameter(
        "architecture",
        str,
        "",
        "Skip the search and train this architecture: a preset (tiny, d0..d7), the path of an "
        "architecture.json, or production: the architecture of the newest version pushed under "
        "serving_root/model_name (a search when nothing is pushed yet). Empty: search one.",
    ),
    Parameter(
        "search_algorithm",
        str,
        SEARCH.algorithm,
        "KerasTuner algorithm: random, bayesian or hyperband.",
    ),
    Parameter(
        "search_max_trials",
        int,
        SEARCH.max_trials,
        "Number of architectures the search tries.",
        low=MIN["max_trials"],
    ),
    Parameter(
        "search_epochs",
        int,
        SEARCH.epochs,
        "Training epochs per search trial (with search_trial_budget_s: at most that many).",
        low=MIN["epochs"],
    ),
    Parameter(
        "search_workers",
        int,
        SEARCH.workers,
        "Parallel search workers (KerasTuner distributed mode). 0: trials run in the search task.",
        low=MIN["workers"],
    ),
    Parameter(
        "search_space",
        str,
        SEARCH.space,
        "Search space: large (production-size networks, 384 to 640 px, for GPUs) or small "
        "(networks around the tiny preset, which is one of its points and is trained first "
        "as the reference, for a CPU). Trials train with the base preset's recipe at "
        "image_size (searched among the space's sizes when image_size is 0).",
    ),
    Parameter(
        "search_latency_weight",
        float,
        SEARCH.latency_weight,
        "Latency-aware reward of the search (MnasNet): a trial scores AP * (latency / "
        "reference) ** w, the latency of its served detection function (NMS included, batch "
        "1) measured on the machine that runs the search, the reference the space's base preset "
        "(small: tiny, large: d0) measured the same way. -0.07 (MnasNet's soft constraint) "
        "values half the latency as much as 5% more AP; 0: AP alone.",
        low=LATENCY_WEIGHT_RANGE[0],
        high=LATENCY_WEIGHT_RANGE[1],
    ),
    Parameter(
        "search_max_latency_ms",
        str,
        BASE_LATENCY,
        "Hard limit of the search on the measured latency, in ms: a candidate over it is "
        "refused right after it is built, untrained, and cannot be picked (candidates are "
        "timed in alternation with the base preset). base: the latency of the space's base "
        "preset measured when the search starts, at the final model's image_size (so the "
        "pick is at least as fast as the preset); 0: no limit.",
        check=parse_max_latency,
    ),
    Parameter(
        "search_screen",
        int,
        SEARCH.screen,
        "Architectures the search screens before training any: each is built untrained and "
        "scored on one minibatch of training images by search_proxy; those over the latency "
        "limit are dropped and the best search_max_trials of the others are the first trials "
        "(Bayesian optimisation: its initial points; Hyperband: its first candidates). The "
        "table is screening.csv in the architecture. 0: no screening.",
        low=MIN["screen"],
    ),
    Parameter(
        "search_proxy",
        str,
        SEARCH.proxy,
        f"The training-free score the screening ranks by: {', '.join(score_names())}. params "
        "(the parameter count) is the baseline a zero-cost score has to beat.",
        check=_known_score,
    ),
    Parameter(
        "search_trial_budget_s",
        float,
        SEARCH.trial_budget_s,
        "CPU seconds of training per search trial: the epochs (at most search_epochs) and the "
        "learning-rate schedule fitted to them, as train_budget_s fits the final model's, so "
        "a trial ranks networks the way the final training will treat them (a faster network "
        "gets more epochs). 0: search_epochs epochs per trial. Hyperband sets the epochs "
        "itself and ignores it.",
        low=0.0,
    ),
    Parameter(
        "search_budget_s",
        float,
        SEARCH.budget_s,
        "Seconds the search may take, its screening and trials (wall clock; a retried attempt "
        "counts the earlier attempts' time up to their last trial start or end): no new "
        "trial starts once they are spent (the first trial and a trial a retry interrupted "
        "always run; a started trial runs to its end), so the budget rather than "
        "search_max_trials decides how many trials run (it still caps them). 0: no time "
        "budget.",
        low=0.0,
    ),
    Parameter(
        "search_confirm",
        int,
        SEARCH.confirm,
        "With search_budget_s (random and Bayesian search): the end of the budget trains the "
        "search_confirm networks with the best scores a second time with another seed, and the "
        "pick is the network with the best mean score of those trained twice (one trial's "
        "score is a noisy sample: two trials of one network rank networks far from "
        "perfectly). 0: the best single trial is the pick. Hyperband ignores it.",
        low=MIN["confirm"],
    ),
    Parameter("seed", int, SEARCH.seed, "Random seed of the search (and of its trials)."),
    Parameter(
        "train_epochs",
        int,
        0,
        "Training epochs of the final model. 0: the training recipe's default (the searched "
        "architecture trains with its space's base preset recipe: 50 epochs for large, 30 for "
        "small; a preset or architecture file with its own).",
        low=0,
    ),
    Parameter(
        "train_budget_s",
        float,
        0.0,
        "Training budget of the final model in CPU seconds (GPU seconds on GPUs): the epochs "
        "and the learning-rate schedule are fitted to it after the first epochs, and training "
        "stops when it is spent (train_epochs then only caps the epochs). 0: no budget.",
        low=0.0,
    ),
    Parameter(
        "train_batch_size", int, 0, "Training batch size. 0: the training recipe's default.", low=0
    ),
    Parameter(
        "warm_start",
        str,
        "",
        "Initialise training from this model: a Model artifact or a pushed version directory, or "
        "production: the newest version pushed under serving_root/model_name (from scratch when "
        "nothing is pushed yet). Empty: train from scratch.",
    ),
    Parameter(
        "backbone_weights",
        str,
        "",
        "Initial weights of an EfficientNet backbone: none, imagenet (downloaded: needs the "
        "internet) or the path / URI of a Keras weights file, e.g. on a volume. Empty: the "
        "architecture's (none for the presets).",
    ),
    Parameter(
        "image_size",
        int,
        0,
        "Input resolution of the final model: a multiple of 2**bifpn.max_level (128 for "
        "d0..d7, 32 for tiny and the searched architectures). 0: the architecture's.",
        low=0,
    ),
    _rule(
        "min_ap",
        "Minimum COCO AP (0..1) for the model to be blessed and pushed, also on the first run. "
        "The default 0.05 is about 6x what 100 random boxes per image score on the bundled "
        "raccoon images (AP 0.009), and a 1-epoch model stays below it, while a usable detector "
        "(AP50 0.3 and up) is above it. A model with no detections on the test split is never "
        "blessed.",
    ),
    _rule(
        "tolerance",
        "The AP drop against the baseline that refuses the candidate: it is refused only when "
        "the 95 % interval of its AP minus the baseline's (paired bootstrap over the test "
        "images) lies wholly below -tolerance.",
    ),
    _rule(
        "class_tolerance",
        "How much AP one class may lose against the baseline and the model still be blessed "
        "(for classes with at least class_min_boxes eval boxes). 1: no per-class rule.",
    ),
    _rule(
        "class_min_boxes",
        "Ground-truth boxes a class needs in the test split to be judged by class_tolerance "
        "(fewer: too noisy; at 20 one box moves the class's recall by 5 points).",
    ),
    Parameter(
        "baseline_model",
        str,
        "",
        "Model to compare against. Empty: the newest version pushed under serving_root/model_name.",
    ),
    Parameter(
        "serving_root",
        str,
        "/mnt/serving",
        "Serving location: blessed models are pushed to serving_root/model_name/<version>/ "
        "(TensorFlow Serving layout). Mount a volume there (see the cluster profile).",
    ),
    Parameter("model_name", str, "nasdet", "Model name under serving_root."),
    Parameter(
        "checkpoint_root",
        str,
        "/mnt/work/checkpoints",
        "Where search and train keep their progress, under <run id>/<step>: a retried pod "
        "(preempted, out of memory) resumes there, and no finished trial or epoch runs again. "
        "Removed when the step succeeds. Mount a volume there (see the cluster profile). Empty: "
        "the pod's own disk (a retry starts over).",
    ),
    Parameter(
        "keep_versions",
        int,
        0,
        "Pushed versions to keep (oldest removed first). 0: keep all.",
        low=0,
    ),
    Parameter(
        "export_formats",
        str,
        "",
        "Serving formats the push also writes into the version, comma separated "
        f"({', '.join(EXPORT_FORMATS)}; e.g. onnx,openvino): each is exported from the blessed "
        "SavedModel as nasdet export does and checked for parity with it on the test split, "
        "into <version>/exports/<format>/ with its export.json; a format that fails its check "
        "refuses the push. Not compared by check-changes: for a new format on an unchanged "
        "model, set force or run nasdet export --model production. Empty: none.",
        check=_known_export_formats,
    ),
    Parameter(
        "force",
        bool,
        False,
        "Retrain even when nothing changed. Without it the check-changes step stops the run "
        "after ingest when the Examples (by content), the code and the parameters that shape "
        "the model (all but the data's, the locations and the scale-out ones) equal what the "
        "production version under serving_root/model_name was trained from.",
    ),
)

BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
DEFAULTS: dict[str, Any] = {p.name: p.default for p in PARAMETERS}

# The parameters that do not change what a run trains or how the gate judges it: the data's
# (they act only through the Examples, which check-changes compares by content; so do the
# split fractions), where things live, how the work is spread, what is kept or published
# beside the model (other serving formats, derived from it), and force itself.
NOT_SHAPING_THE_MODEL = (
    "data_path",
    "data_format",
    "images_dir",
    "classes_file",
    "val_fraction",
    "test_fraction",
    "beam_args",
    "search_workers",
    "serving_root",
    "model_name",
    "checkpoint_root",
    "keep_versions",
    "export_formats",
    "force",
)
# The others: check-changes compares them with those the production version was trained with.
MODEL_PARAMETERS: tuple[str, ...] = tuple(
    p.name for p in PARAMETERS if p.name not in NOT_SHAPING_THE_MODEL
)
