"""Triton python-backend model: the version's model.onnx run through onnxruntime.

This file is copied into every version directory as ``model.py`` when the
platform is ``python``; Triton's python backend imports it there. It must stay
self-contained: numpy, onnxruntime and ``triton_python_backend_utils`` (which
the backend provides) only.

Input ``witness`` float32 (batch, num_witnesses, time); output ``noise``
float32 (batch, time). The session's thread count comes from the
``intra_op_num_threads`` parameter of config.pbtxt (0: onnxruntime decides).
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

INPUT_NAME = "witness"
OUTPUT_NAME = "noise"


class TritonPythonModel:
    """One onnxruntime session per model instance."""

    def initialize(self, args):
        """Open the ONNX model of this version (``args`` as given by the python backend)."""
        config = json.loads(args["model_config"])
        directory = os.path.join(args["model_repository"], args["model_version"])
        if not os.path.isfile(os.path.join(directory, "model.onnx")):
            directory = os.path.dirname(os.path.abspath(__file__))  # a localized copy of the version
        threads = config.get("parameters", {}).get("intra_op_num_threads", {}).get("string_value", "0")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or 0)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            os.path.join(directory, "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def execute(self, requests):
        """Run every request; a bad request gets an error response, the others still run."""
        responses = []
        for request in requests:
            try:
                witness = pb_utils.get_input_tensor_by_name(request, INPUT_NAME).as_numpy()
                noise = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(witness, np.float32)})[0]
                output = pb_utils.Tensor(OUTPUT_NAME, noise.astype(np.float32, copy=False))
                responses.append(pb_utils.InferenceResponse(output_tensors=[output]))
            except Exception as exc:  # noqa: BLE001 - reported to the client, the model keeps serving
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(str(exc))))
        return responses

    def finalize(self):
        """Release the session."""
        self.session = None
