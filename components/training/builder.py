"""Build and compile the training model of a detector config (train step and search trials)."""

from __future__ import annotations

from components.detector import anchors as anchors_lib
from components.detector import model as model_lib
from components.detector.config import DetectorConfig
from components.training.model_wrapper import DetectorTrainer
from components.training.optimizers import build_optimizer, exclude_from_decay
from components.training.schedule import warmup_cosine


def build_trainer(
    config: DetectorConfig,
    steps_per_epoch: int,
    epochs: int,
    global_batch: int,
    jit_compile: bool | str = "auto",
) -> DetectorTrainer:
    """Build and compile the training model for ``config`` (inside the current strategy scope).

    The optimizer is ``train.optimizer`` (``components.training.optimizers``: SGD with momentum
    or AdamW) on the warm-up + cosine schedule over ``epochs * steps_per_epoch`` steps at the
    learning rate scaled for ``global_batch``, with global-norm clipping; the trainer adds the
    L2 term the optimizer asks for and the EMA. Its variables (optimizer slots
    included) are created here, so a checkpoint can be restored right away.
    """
    train = config.train
    detector = model_lib.build_detector(config)
    schedule = warmup_cosine(
        base_lr=train.scaled_learning_rate(global_batch),
        total_steps=max(epochs * steps_per_epoch, 1),
        warmup_steps=int(round(train.warmup_epochs * steps_per_epoch)),
        warmup_init=0.1 * train.scaled_learning_rate(global_batch),
    )
    optimizer, l2_factor = build_optimizer(schedule, train)
    trainer = DetectorTrainer(
        detector,
        config,
        anchors_lib.generate_anchors(config),
        ema_decay=train.ema_decay,
        weight_decay=l2_factor,
    )
    exclude_from_decay(optimizer, trainer.trainable_variables)
    trainer.schedule = schedule  # a training budget moves its end (components.training.budget)
    trainer.compile(optimizer=optimizer, jit_compile=jit_compile)
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer
