"""LAN: Learning Adaptive Neighbours for real-time insider threat detection (Cai et al. 2024)."""
