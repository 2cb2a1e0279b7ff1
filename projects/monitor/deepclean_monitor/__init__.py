"""DeepClean online monitor: validates the canary, promotes or rolls back, reports the cleaning."""
