/// The shield format: protected file trees (authenticated and encrypted chunks, the index).
public enum ArcaShield {}
