"""Collection rule for the doctests of the sklasd package (pytest's rootdir conftest)."""
import importlib.util

# sklasd._dask imports dask.distributed, which is optional (sklasd[dask])
collect_ignore = [] if importlib.util.find_spec("distributed") else ["sklasd/_dask.py"]
# sklasd.export's examples need onnx, onnxruntime and skl2onnx (sklasd[onnx])
if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime", "skl2onnx")):
    collect_ignore.append("sklasd/export.py")
