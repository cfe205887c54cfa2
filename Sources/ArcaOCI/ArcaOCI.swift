/// OCI image-spec types, image references, and image stores (OCI layout, docker-archive).
public enum ArcaOCI {}
