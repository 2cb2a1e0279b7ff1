"""DeepClean online exporter: training directories → versions of a Triton model repository.

The Flask app (:mod:`.app`) in front of the served models (:mod:`.served_models`), each with its own
export pipeline (:mod:`.exporter`)::

    POST /models/<model>/export {"training_dir": ...}     (POST /export: the default model)
        → served_models.named           a served model, else 404 naming them
        → served_models.check_trained_for   not a run of another detector's model (409)
        → training_dir.locate           under the training root, no traversal or symlink escape
        → training_dir.load_training    complete, metadata matches the channels, finite weights
        → reserve_version               .staging-<v>, distinct across threads and processes
        → onnx_export.export_onnx       model.onnx, checked against torch (tolerance in settings)
        → tensorrt_build.build_plan     model.plan (fp16), only where TensorRT and a GPU exist
        → staged.publish()              renamed into place as <v>/
        → pins: canary = v, config.pbtxt rewritten (checked with Triton's protobuf), prune
"""
