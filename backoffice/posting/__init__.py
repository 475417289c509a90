"""The one write path for money: a ``Movement`` (``movement``), posted by ``post.post`` by the rules of one
table (``rules``), which ``sql`` renders for the checks and rebuilds."""
