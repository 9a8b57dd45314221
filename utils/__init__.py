"""Small shared helpers: errors, atomic file I/O, seeding, devices."""
