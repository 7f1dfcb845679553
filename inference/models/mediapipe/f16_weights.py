"""Stores an ONNX model's large float32 initializers as float16, each followed by a Cast back
to float32 (the graph still computes in float32; the file is about half the size)."""
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

src, dst = sys.argv[1], sys.argv[2]
m = onnx.load(src)
g = m.graph
casts, keep = [], []
for init in g.initializer:
    a = numpy_helper.to_array(init)
    if a.dtype == np.float32 and a.size >= 256:
        h = numpy_helper.from_array(a.astype(np.float16), init.name + "__f16")
        keep.append(h)
        casts.append(helper.make_node("Cast", [h.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "__cast"))
    else:
        keep.append(init)
del g.initializer[:]
g.initializer.extend(keep)
nodes = casts + list(g.node)
del g.node[:]
g.node.extend(nodes)
onnx.checker.check_model(m)
onnx.save(m, dst)
print(f"{len(casts)} initializers stored as float16")
