"""Camera, pose and scale math shared by the teachers, the student's targets and evaluation.

Pure numpy, no model and no file: camera.py (pinhole intrinsics, field of view, rays),
pose.py (quaternions, poses relative to the first camera, the 9-number pose encoding, scene
normalisation) and scale.py (the least-squares metric scale). The conventions are those of
docs/method.md ("Pose encoding").
"""
