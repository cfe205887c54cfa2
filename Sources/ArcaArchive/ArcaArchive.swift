/// Tar streams, layer compression, and the safe root-filesystem model.
public enum ArcaArchive {}
