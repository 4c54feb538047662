"""Map layers: reading, coordinate offsets, classification of parking lots, map output."""
