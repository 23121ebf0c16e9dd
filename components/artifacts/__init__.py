"""The artifacts the steps hand each other: one module per artifact, its file names, readers
and writers (as TFX keeps one definition per standard artifact).

- :mod:`components.artifacts.examples`: the Examples artifact (ingest writes it);
- :mod:`components.artifacts.architecture`: the Architecture artifact (search);
- :mod:`components.artifacts.model`: the Model artifact (train) and SavedModel locations;
- :mod:`components.artifacts.evaluation`: the Evaluation artifact (evaluate);
- :mod:`components.artifacts.serving`: the serving volume of pushed versions (push).

Importing these modules never imports TensorFlow (readers of URIs import it when called).
"""
