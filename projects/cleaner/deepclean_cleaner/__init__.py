"""The DeepClean cleaner: live strain and witnesses in, cleaned strain frames out."""
