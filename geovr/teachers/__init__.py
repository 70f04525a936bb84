"""Teachers: frozen 3D foundation models (or exact ground truth) that produce GeoVR's targets.

- base.py: the Teacher protocol, `Targets`, the registry (`build_teacher(name, **options)`)
- pose.py, scale.py: the pose encoding / scene normalisation and the metric-scale fit
- oracle.py (exact GT), hf_depth.py (Depth Anything via transformers), vggt.py, da3.py
- pair.py: a geometry teacher + a metric-scale teacher (`build_scale_teacher`); metric_scale.py:
  DA3-METRIC (`da3-metric`), the paper's scale source beside VGGT
- distill.py + cache.py: the resumable distill stage; merge.py: joins parallel distill outputs;
  store.py: `TargetStore` for training
"""
