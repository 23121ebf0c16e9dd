"""``nasdet serve``: a model behind KServe's Python model server (v1 and v2 protocols), and the
``InferenceService`` manifest that serves the pushed versions on a cluster.

The door is the command line (:mod:`components.serve.cli`); :class:`components.serve.model.
DetectorModel` is the ``kserve.Model``, :mod:`components.serve.codec` the request and response
formats, :mod:`components.serve.manifest` the manifest.
"""
