"""Profile a few training steps on CUDA (device tool): where a step's time goes."""
import sys

from torch.profiler import ProfilerActivity, profile

from bifsmn.train.config import load_config, resolve_config, set_teacher
from bifsmn.train.runner import run_training

name, out, *ovs = sys.argv[1:]
cfg = load_config(resolve_config(name), ovs)
if name.startswith("bifsmn"):
    set_teacher(cfg, "models/teacher_fbank40_60.pt")
with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
    run_training(cfg, out, progress=False)
ka = p.key_averages()
print(ka.table(sort_by="self_cpu_time_total", row_limit=30))
for key in ("self_device_time_total", "self_cuda_time_total"):
    try:
        print(ka.table(sort_by=key, row_limit=15))
        break
    except Exception as e:
        print("sort", key, e)
LAUNCH = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC")
print("kernel launches:", sum(e.count for e in ka if e.key in LAUNCH))
