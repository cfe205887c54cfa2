import ArcaCore

/// The `sim` producer behind the runtime's `EvidenceProvider` interface: `arca-init` selects it
/// with `EvidenceSelection.sim` and builds it from the platform key file and its measurement.
public struct SimEvidenceProvider: EvidenceProvider {
    public let producer: SimEvidenceProducer
    /// The Arca measurement the statement names (32 bytes).
    public let measurement: [UInt8]

    public init(producer: SimEvidenceProducer, measurement: [UInt8]) {
        self.producer = producer
        self.measurement = measurement
    }

    /// Loads the platform key named by `ARCA_PLATFORM_KEY`.
    public static func fromEnvironment(measurement: [UInt8]) throws -> SimEvidenceProvider {
        guard let path = environmentValue(SimEvidenceProducer.keyEnvironmentVariable), !path.isEmpty else {
            throw ArcaError(.notFound, "sim evidence needs the platform key file named by \(SimEvidenceProducer.keyEnvironmentVariable); the host must hand it to the container")
        }
        return SimEvidenceProvider(producer: try SimEvidenceProducer(pemFile: path), measurement: measurement)
    }

    public func kind() throws -> EvidenceKind { .sim }

    public func evidence(reportData: [UInt8]) throws -> [UInt8] {
        try producer.produce(measurement: measurement, reportData: reportData)
    }
}
