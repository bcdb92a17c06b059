"""Export for serving and prediction on audio: SavedModel (TF Serving), ONNX, `emorec predict`.

- `saved_model.export_saved_model(model_or_run_dir, out_dir, version=None) -> Path`
  (models with a semantic branch: Speech2Vec features computed in the graph, see
  `semantic_graph.SemanticFrontEnd`; word boundaries are signature inputs)
- `predict.predict_file(path, model_dir, out_dir=None, plot=False)` /
  `predict.predict_array(waveform, sample_rate_hz, model_dir)` -> per-frame pandas table indexed
  by (file, start, end); `predict.predict_files(paths, model_dir, out_dir=None)` -> `PredictReport`
  (many files: decoding in parallel with batched inference, collision-free output names)
- `serving.rest_request(...)` / `serving.predict_request(...)`: TF Serving REST / gRPC requests
- `onnx.export_onnx(model_or_run_dir, out_path) -> Path`

Inside: `graph_ops` (framing in the graph, the split at the LSTM), `serving_module` (the
signatures), `semantic_graph` (Speech2Vec features in the graph), `saved_model` (versions on disk,
the core-ops check, reading an export back).

Submodules are imported on use: TensorFlow and tf2onnx load slowly.
"""
