"""Real GIMP 3.0 / 3.2 for end-to-end tests: debootstrap roots, a chroot harness, fixtures."""
