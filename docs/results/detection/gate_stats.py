"""Gate threshold measurement (docs/detection.md, Gate). Run from the repo root:
.venv/bin/python docs/results/detection/gate_stats.py"""
import numpy as np, glob
from bifsmn.audio import load_audio
from bifsmn.detect.gate import frame_levels
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.data.labels import COMMANDS
root='../shared/data/speech_commands_test12_v0.02'
ds=SpeechCommands(root,12)
items=[it for it in ds.items('validation') if it.path and it.word in COMMANDS]
pk=[];ct=[]
for it in items:
    x=load_audio(it.path)[:16000]
    x=np.pad(x,(0,16000-len(x)))
    p,f=frame_levels(x[None],np.array([16000]),None,16000)
    pk.append(p[0]);ct.append(p[0]-f[0])
pk=np.array(pk);ct=np.array(ct)
print('keyword clips',len(items),'peak dB pct 0,1,5,50:',np.percentile(pk,[0,1,5,50]).round(1),'contrast(clip alone) pct 0,1,5,50:',np.percentile(ct,[0,1,5,50]).round(1))
for f in sorted(glob.glob(root+'/_background_noise_/*.wav')):
    x=load_audio(f); n=len(x)//1600-10
    ends=16000+1600*np.arange(n)
    W=np.stack([x[e-16000:e] for e in ends])
    p,fl=frame_levels(W,ends,None,16000)
    c=p-fl
    print(f.split('/')[-1],'peak med %.1f'%np.median(p),'contrast pct 50,90,99,max',np.percentile(c,[50,90,99,100]).round(1),'frac>=8dB %.3f'%(c>=8).mean(),'>=6 %.3f'%(c>=6).mean(), '>=10 %.3f'%(c>=10).mean())
rng=np.random.default_rng(0)
w=rng.standard_normal(16000*60).astype(np.float32)
X=np.fft.rfft(rng.standard_normal(16000*60)); fr=np.arange(len(X)); fr[0]=1; pink=np.fft.irfft(X/np.sqrt(fr)).astype(np.float32)
for name,x in [('white',w),('pink',pink)]:
    n=len(x)//1600-10; ends=16000+1600*np.arange(n)
    W=np.stack([x[e-16000:e] for e in ends]); p,fl=frame_levels(W,ends,None,16000); c=p-fl
    print(name,'contrast max %.2f p99 %.2f'%(c.max(),np.percentile(c,99)))
