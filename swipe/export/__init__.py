"""Export: the model as ONNX graphs (an encoder and a one-step decoder) that decode without PyTorch."""
