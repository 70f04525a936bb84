"""The GeoVR student: geometry heads and losses (this package), the config and the layer
mapping. The student adapters, camera/scale token insertion and the wrapper are not built
yet (see the issue note); the heads are model-agnostic: they take hidden states."""
