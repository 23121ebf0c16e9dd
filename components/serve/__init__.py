"""``nasdet serve``: a model behind KServe's Python model server (v1 and v2 protocols).

The door is the command line (:mod:`components.serve.cli`); :class:`components.serve.model.
DetectorModel` is the ``kserve.Model``, :mod:`components.serve.codec` the request and response
formats. :mod:`components.serve.manifest` is the KServe ``InferenceService`` that serves the
pushed versions on a cluster (KServe's TF Serving runtime).
"""
