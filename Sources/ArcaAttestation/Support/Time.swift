import ArcaCore
import FoundationEssentials

/// Civil-time conversions for certificate, CRL and collateral timestamps, without a calendar
/// library (FoundationEssentials' date parsing is not what the runtime should depend on).
public enum AttestationTime {
    /// Seconds since 1970 for a proleptic Gregorian UTC date (Howard Hinnant's days-from-civil).
    static func epochSeconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return days * 86400 + Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (the form Intel collateral and `--at` use).
    public static func parse(_ text: String) throws -> Date {
        let u = Array(text.utf8)
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= u.count else { return nil }
            var value = 0
            for c in u[start..<start + count] {
                guard c >= 48, c <= 57 else { return nil }
                value = value * 10 + Int(c - 48)
            }
            return value
        }
        func at(_ i: Int, _ c: Character) -> Bool { i < u.count && u[i] == c.asciiValue! }
        guard u.count >= 20, u.count <= 40,
              let year = digits(0, 4), at(4, "-"), let month = digits(5, 2), at(7, "-"),
              let day = digits(8, 2), at(10, "T") || at(10, "t"), let hour = digits(11, 2), at(13, ":"),
              let minute = digits(14, 2), at(16, ":"), let second = digits(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { throw ArcaError(.invalidFormat, "time '\(text.prefix(40))' is not of the form 2025-07-01T00:00:00Z") }
        var index = 19
        if at(index, ".") {
            index += 1
            while index < u.count, u[index] >= 48, u[index] <= 57 { index += 1 }
        }
        guard index == u.count - 1, at(index, "Z") || at(index, "z") else {
            throw ArcaError(.invalidFormat, "time '\(text.prefix(40))' must be UTC and end in 'Z'")
        }
        let seconds = epochSeconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// Formats a date as `YYYY-MM-DDTHH:MM:SSZ`.
    public static func format(_ date: Date) -> String {
        let total = Int64(date.timeIntervalSince1970.rounded(.down))
        var days = total >= 0 ? total / 86400 : (total - 86399) / 86400
        let secs = total - days * 86400
        days += 719468
        let era = (days >= 0 ? days : days - 146096) / 146097
        let doe = days - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let yearText = String(y).count >= 4 ? String(y) : String(repeating: "0", count: 4 - String(y).count) + String(y)
        return "\(yearText)-\(two(m))-\(two(d))T\(two(secs / 3600)):\(two(secs % 3600 / 60)):\(two(secs % 60))Z"
    }
}
