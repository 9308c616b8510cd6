/// Checks a `tokenizer.model` before libsentencepiece sees it, so a crafted or damaged file is
/// one clear sentence and never an out-of-bounds read inside the C++ library.
///
/// The danger is the normalizer's `precompiled_charsmap` (and the denormalizer's): SentencePiece
/// 0.1.97 (Debian bookworm's) splits it as
///     [trie size n: UInt32 LE][n bytes: a darts-clone double array][replacement strings, NUL-ended]
/// and walks the double array with no bounds checks at all. darts-clone's unit is a UInt32:
///     has_leaf = bit 8, value = bits 0…30, label = bits 0…7 plus bit 31,
///     offset   = (unit >> 10) << (bit 9 ? 8 : 0).
/// `commonPrefixSearch` starts at base = offset(unit[0]); for each input byte c it reads
/// unit[base ^ c] — for *any* byte of the input, so every base must have all 256 slots inside
/// the array — and, when that unit's label is c, moves to base' = (base ^ c) ^ offset(unit),
/// reporting value(unit[base']) when has_leaf is set. The normalizer then reads the
/// replacement at normalized[value] up to its NUL, and keeps at most 32 matches in a stack
/// array while looping over however many the search reports, so no input may meet more than 32
/// leaves along its path (SentencePiece's own builder allows fewer than 32).
///
/// Walking every reachable base once (the array is a DAG: darts-clone shares equal subtrees)
/// proves all of that for every possible input, and refuses cycles, which no trie has.
public enum CharsmapValidator {
    static let maxMatches = 32

    /// Throws a sentence naming what is wrong with the model (its caller prefixes the file).
    public static func validate(modelBytes: [UInt8]) throws {
        let model = try SentencePieceModelProto(bytes: modelBytes)
        try validate(charsmap: model.normalizerSpec.precompiledCharsmap, what: "normalizer")
        for field in model.otherFields where field.number == 5 {
            // ModelProto.denormalizer_spec: a NormalizerSpec of its own.
            guard case .bytes(let bytes) = field.value, let spec = try? ProtobufMessage(bytes: bytes[...]) else {
                throw SwiftletError("not a valid SentencePiece model (its denormalizer spec is malformed).")
            }
            try validate(charsmap: spec.bytes(2) ?? [], what: "denormalizer")
        }
    }

    public static func validate(charsmap blob: [UInt8], what: String) throws {
        func broken(_ why: String) -> SwiftletError {
            SwiftletError("not a valid SentencePiece model (its \(what)'s character map is broken: \(why)).")
        }
        if blob.isEmpty { return }
        guard blob.count > 4 else { throw broken("it is shorter than its header") }
        let trieBytes = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
        guard trieBytes < blob.count - 4 else {
            throw broken("its trie size \(trieBytes) does not fit in \(blob.count) bytes")
        }
        let size = trieBytes / 4
        guard size >= 256 else { throw broken("its trie holds \(size) units, fewer than one block of 256") }
        let units = (0..<size).map { i in
            UInt32(blob[4 + 4 * i]) | UInt32(blob[5 + 4 * i]) << 8 | UInt32(blob[6 + 4 * i]) << 16 | UInt32(
                blob[7 + 4 * i]) << 24
        }
        let normalized = blob[(4 + trieBytes)...]
        let normalizedStart = normalized.startIndex
        // The replacement at each offset must end with a NUL inside the blob.
        var nextNul = [Int](repeating: -1, count: normalized.count)
        var nul = -1
        for i in stride(from: normalized.count - 1, through: 0, by: -1) {
            if normalized[normalizedStart + i] == 0 { nul = i }
            nextNul[i] = nul
        }

        func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }
        func hasLeaf(_ unit: UInt32) -> Bool { (unit >> 8) & 1 == 1 }
        func label(_ unit: UInt32) -> UInt32 { unit & ((1 << 31) | 0xFF) }

        // Depth-first over bases: 0 unseen, 1 on the current path, 2 done. `leaves[b]` is the
        // most leaves any input meets from base b on.
        var state = [UInt8](repeating: 0, count: size)
        var leaves = [Int](repeating: 0, count: size)
        let root = offset(units[0])
        func checkBase(_ base: Int) throws {
            guard base | 0xFF < size else { throw broken("a node's children lie outside its \(size) units") }
        }
        try checkBase(root)
        // Each frame: a base and the next byte to try from it.
        var stack: [(base: Int, byte: Int)] = [(root, 0)]
        state[root] = 1
        while let top = stack.last {
            if top.byte > 255 {
                state[top.base] = 2
                stack.removeLast()
                if let parent = stack.last {
                    // The parent's byte was advanced past the child when the child was pushed.
                    let child = parent.base ^ (parent.byte - 1)
                    leaves[parent.base] = max(leaves[parent.base], leaves[top.base] + (hasLeaf(units[child]) ? 1 : 0))
                    if leaves[parent.base] >= maxMatches {
                        throw broken("an input can match \(maxMatches) or more prefixes")
                    }
                }
                continue
            }
            let c = top.byte
            stack[stack.count - 1].byte += 1
            let child = top.base ^ c
            let unit = units[child]
            guard label(unit) == UInt32(c) else { continue }
            let next = child ^ offset(unit)
            try checkBase(next)
            if hasLeaf(unit) {
                let value = Int(units[next] & 0x7FFF_FFFF)
                guard value < normalized.count, nextNul[value] >= 0 else {
                    throw broken("a replacement lies outside its \(normalized.count) bytes of text")
                }
            }
            switch state[next] {
            case 0:
                state[next] = 1
                stack.append((next, 0))
            case 1:
                throw broken("its trie has a cycle")
            default:
                leaves[top.base] = max(leaves[top.base], leaves[next] + (hasLeaf(unit) ? 1 : 0))
            }
            if leaves[top.base] >= maxMatches { throw broken("an input can match \(maxMatches) or more prefixes") }
        }
    }
}
