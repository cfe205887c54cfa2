/// Pure cryptography of the shield format: chunk AEAD, hashing, key derivation, offset math.
public enum ArcaCrypto {}
