/// Number formatting without Foundation's String(format:). Every function accepts every
/// value — huge, tiny, negative, NaN, ±infinity — and never traps.
public enum Format {
    /// x with exactly `digits` decimals (0…15). Beyond what a Double holds exactly at that many
    /// decimals (|x|·10^digits ≥ 2^53) it is written in scientific notation instead.
    public static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
        let digits = min(max(digits, 0), 15)
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(x) * Double(scale)).rounded()
        guard scaled < 9_007_199_254_740_992 else { return scientific(x) }
        // Integer arithmetic from here: the whole and fractional digits are exact.
        let units = Int64(scaled)
        var text = String(units / scale)
        if digits > 0 {
            let f = String(units % scale)
            text += "." + String(repeating: "0", count: max(0, digits - f.count)) + f
        }
        return (x < 0 && units != 0 ? "-" : "") + text
    }

    /// 25_769_803_776 → "24.0 GiB" (binary units, as memory is sold and reported).
    public static func bytes(_ n: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(n.magnitude), unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return (n < 0 ? "-" : "") + (unit == 0 ? String(n.magnitude) : fixed(value, 1)) + " " + units[unit]
    }

    /// 1234567 → "1,234,567".
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(ch)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// Time left when `done` of `total` took `elapsed` seconds, at the same rate; "?" before
    /// anything is done.
    public static func eta(elapsed: Double, done: Int, total: Int) -> String {
        done > 0 ? seconds(elapsed / Double(done) * Double(total - done)) : "?"
    }

    /// 83.4 → "1m23s"; 5.2 → "5.2s".
    public static func seconds(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        if s < 60 { return fixed(s, 1) + "s" }
        // Past ~30 years hours stop meaning much (and Int(s) could overflow).
        if s >= 1e9 { return scientific(s) + "s" }
        let total = Int(s.rounded())
        let h = total / 3600, m = (total % 3600) / 60, sec = total % 60
        let ss = sec < 10 ? "0\(sec)" : "\(sec)"
        if h > 0 { return "\(h)h" + (m < 10 ? "0\(m)" : "\(m)") + "m" + ss + "s" }
        return "\(m)m" + ss + "s"
    }

    /// 0.0018 → "1.80e-3".
    public static func scientific(_ x: Double) -> String {
        guard x != 0, x.isFinite else { return x.isFinite ? "0" : fixed(x, 0) }
        var exponent = 0
        var m = abs(x)
        // Subnormals first scale up in one step (repeated ×10 would lose their digits).
        if m < 1e-300 { m *= 1e300; exponent -= 300 }
        while m >= 10 { m /= 10; exponent += 1 }
        while m < 1 { m *= 10; exponent -= 1 }
        if (m * 100).rounded() >= 1000 { m /= 10; exponent += 1 }
        return (x < 0 ? "-" : "") + fixed(m, 2) + "e" + String(exponent)
    }

    /// 15_200_000 → "15.2M".
    public static func count(_ n: Int) -> String {
        if n >= 1_000_000_000_000 { return scientific(Double(n)) }
        if n >= 1_000_000 { return fixed(Double(n) / 1e6, 1) + "M" }
        if n >= 10_000 { return fixed(Double(n) / 1e3, 1) + "K" }
        return String(n)
    }

    /// "5m", "300s", "1h30m", "90" (seconds) → seconds.
    public static func parseDuration(_ text: String) -> Double? {
        var total = 0.0
        var number = ""
        var sawUnit = false
        for ch in text {
            if ch.isNumber || ch == "." {
                number.append(ch)
            } else {
                guard let v = Double(number) else { return nil }
                switch ch {
                case "h": total += v * 3600
                case "m": total += v * 60
                case "s": total += v
                default: return nil
                }
                number = ""
                sawUnit = true
            }
        }
        if !number.isEmpty {
            guard let v = Double(number) else { return nil }
            total += v
        } else if !sawUnit {
            return nil
        }
        return total
    }
}

extension String {
    /// Without leading and trailing whitespace (spaces, tabs, newlines).
    public var trimmingWhitespace: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s.removeFirst() }
        while s.last?.isWhitespace == true { s.removeLast() }
        return String(s)
    }
}
