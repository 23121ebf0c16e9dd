"""The Keras training model of the detector, shared by the train step and the search's trials.

- :mod:`components.training.model_wrapper`: ``DetectorTrainer`` (targets, loss, decay, EMA);
- :mod:`components.training.builder`: ``build_trainer`` (the compiled trainer: SGD, schedule);
- :mod:`components.training.schedule`: the learning-rate schedule (warm-up, then cosine);
- :mod:`components.training.ema`: the exponential moving average of the weights.
"""
