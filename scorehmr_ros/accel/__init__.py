"""How a torch module is executed: eager, torch.compile, ONNX Runtime, TensorRT."""
