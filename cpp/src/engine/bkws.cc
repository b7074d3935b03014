#include "bkws.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "bifsmn/bitpack.h"
#include "bifsmn/engine.h"

namespace bifsmn {

namespace {
std::array<std::uint32_t, 256> make_crc_table() noexcept {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
}  // namespace

std::uint32_t crc32(const void* data, std::size_t size, std::uint32_t crc) noexcept {
  static const std::array<std::uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const std::uint8_t*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

namespace detail {

const char* dtype_name(DType d) noexcept {
  switch (d) {
    case DType::u8: return "u8";
    case DType::i32: return "i32";
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bits: return "bits";
    case DType::f64: return "f64";
    case DType::i8: return "i8";
    case DType::f24: return "f24";
  }
  return "?";
}

float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t man = h & 0x3FFu;
  std::uint32_t bits;
  if (exp == 0x1F) {  // inf / nan
    bits = sign | 0x7F800000u | (man << 13);
  } else if (exp != 0) {  // normal
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {  // +-0
    bits = sign;
  } else {  // subnormal: normalise
    exp = 113;
    while (!(man & 0x400u)) {
      man <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((man & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {
template <class T>
T load_le(const std::uint8_t* p) noexcept {
  // The format is little-endian; every supported target (x86-64, aarch64
  // Linux) is too, so a plain copy is the decode.
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::u8:
    case DType::i8: return 1;
    case DType::f16: return 2;
    case DType::f24: return 3;
    case DType::i32:
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::bits: return 0;
  }
  return 0;
}

bool valid_dtype(std::uint8_t code) { return code >= 1 && code <= 8; }

// i8 and f24 arrived with format version 4: an older file holding them is corrupt.
bool needs_v4(DType d) { return d == DType::i8 || d == DType::f24; }
}  // namespace

void Container::fail(const std::string& msg) const {
  throw BkwsError(name_ + ": " + msg);
}

Container::Container(std::vector<std::uint8_t> bytes, std::string name)
    : bytes_(std::move(bytes)), name_(std::move(name)) {
  const std::size_t n = bytes_.size();
  const std::uint8_t* d = bytes_.data();
  if (n < kHeaderSize) {
    fail("not a valid .bkws file: truncated header (" + std::to_string(n) + " of " +
         std::to_string(kHeaderSize) + " bytes)");
  }
  if (std::memcmp(d, kMagic, 8) != 0) fail("not a valid .bkws file: bad magic (not a .bkws model)");
  if (crc32(d, 28) != load_le<std::uint32_t>(d + 28)) {
    fail("not a valid .bkws file: header checksum mismatch (corrupt header)");
  }
  const auto version = load_le<std::uint32_t>(d + 8);
  if (version < kMinVersion || version > kVersion) {
    fail(".bkws format version " + std::to_string(version) +
         " not supported (this engine reads versions " + std::to_string(kMinVersion) + " to " +
         std::to_string(kVersion) + "); re-export the checkpoint");
  }
  version_ = version;
  const auto hsize = load_le<std::uint32_t>(d + 12);
  if (hsize != kHeaderSize) fail("not a valid .bkws file: header size " + std::to_string(hsize));
  const auto psize = load_le<std::uint64_t>(d + 16);
  if (psize != n - kHeaderSize) {
    // shorter: a cut transfer; longer: bytes appended after the model (a concatenated file)
    fail("not a valid .bkws file: payload is " + std::to_string(n - kHeaderSize) +
         " bytes, header says " + std::to_string(psize) +
         (n - kHeaderSize < psize ? " (truncated?)" : " (trailing bytes after the model?)"));
  }
  if (crc32(d + kHeaderSize, n - kHeaderSize) != load_le<std::uint32_t>(d + 24)) {
    fail("not a valid .bkws file: payload checksum mismatch (corrupt file)");
  }

  std::size_t pos = kHeaderSize;
  auto take = [&](std::size_t len) -> std::size_t {
    if (len > n - pos) fail("not a valid .bkws file: record runs past the end of the payload");
    const std::size_t at = pos;
    pos += len;
    return at;
  };
  const auto count = load_le<std::uint32_t>(d + take(4));
  // Each record needs at least 1 + 1 + 4 + 8 bytes: bounds the reservation.
  if (count > (n - pos) / 14) fail("not a valid .bkws file: record count exceeds file size");
  records_.reserve(count);
  for (std::uint32_t r = 0; r < count; ++r) {
    Record rec;
    const std::uint8_t nlen = d[take(1)];
    if (nlen == 0 || nlen > kMaxName) fail("not a valid .bkws file: bad record name length");
    const std::size_t at = take(nlen);
    rec.name.assign(reinterpret_cast<const char*>(d + at), nlen);
    for (char c : rec.name) {
      if (c < 0x21 || c > 0x7E) fail("not a valid .bkws file: non-printable record name");
    }
    const std::size_t h = take(4);
    const std::uint8_t code = d[h], ndim = d[h + 1];
    if (!valid_dtype(code) || ndim > kMaxNdim || load_le<std::uint16_t>(d + h + 2) != 0) {
      fail("not a valid .bkws file: record '" + rec.name + "' has a bad dtype/ndim");
    }
    rec.dtype = static_cast<DType>(code);
    if (needs_v4(rec.dtype) && version_ < 4) {
      fail("not a valid .bkws file: record '" + rec.name + "' has dtype " +
           dtype_name(rec.dtype) + ", which needs format version 4 (file says " +
           std::to_string(version_) + ")");
    }
    const std::size_t dims_at = take(4u * ndim);
    unsigned long long elems = 1;
    bool overflow = false;
    for (std::size_t i = 0; i < ndim; ++i) {
      const auto dim = load_le<std::uint32_t>(d + dims_at + 4 * i);
      rec.shape.push_back(dim);
      if (dim != 0 && elems > (1ull << 40) / dim) overflow = true;
      elems *= dim;
    }
    if (overflow) fail("not a valid .bkws file: record '" + rec.name + "' is too large");
    unsigned long long expect;
    if (rec.dtype == DType::bits) {
      if (ndim != 2) fail("not a valid .bkws file: bits record '" + rec.name + "' is not 2-D");
      expect = static_cast<unsigned long long>(rec.shape[0]) * ((rec.shape[1] + 7ull) / 8);
    } else {
      expect = elems * dtype_size(rec.dtype);
    }
    const auto nbytes = load_le<std::uint64_t>(d + take(8));
    if (nbytes != expect) {
      fail("not a valid .bkws file: record '" + rec.name + "' size does not match its shape");
    }
    rec.nbytes = static_cast<std::size_t>(nbytes);
    rec.offset = take(rec.nbytes);
    if (find(rec.name)) fail("not a valid .bkws file: duplicate record '" + rec.name + "'");
    records_.push_back(std::move(rec));
  }
  if (pos != n) fail("not a valid .bkws file: trailing bytes after the last record");
}

const Record* Container::find(std::string_view rec) const {
  for (const Record& r : records_) {
    if (r.name == rec) return &r;
  }
  return nullptr;
}

const Record& Container::require(std::string_view rec, std::initializer_list<DType> dtypes,
                                 std::initializer_list<long long> shape) const {
  const Record* r = find(rec);
  if (!r) fail("missing record '" + std::string(rec) + "'");
  if (std::find(dtypes.begin(), dtypes.end(), r->dtype) == dtypes.end()) {
    fail("record '" + r->name + "' has dtype " + dtype_name(r->dtype));
  }
  bool ok = r->shape.size() == shape.size();
  std::size_t i = 0;
  for (long long want : shape) {
    if (ok && want >= 0 && r->shape[i] != static_cast<unsigned long long>(want)) ok = false;
    ++i;
  }
  if (!ok) {
    std::string got = "(";
    for (std::size_t k = 0; k < r->shape.size(); ++k) {
      got += (k ? "," : "") + std::to_string(r->shape[k]);
    }
    std::string want = "(";
    i = 0;
    for (long long s : shape) want += (i++ ? "," : "") + (s < 0 ? std::string("*") : std::to_string(s));
    fail("record '" + r->name + "' has shape " + got + "), expected " + want + ")");
  }
  return *r;
}

ops::Buffer<float> Container::floats(std::string_view rec,
                                     std::initializer_list<long long> shape) const {
  const Record& r = require(rec, {DType::f32, DType::f16, DType::f24, DType::i8}, shape);
  const std::uint8_t* p = bytes_.data() + r.offset;
  ops::Buffer<float> out;
  if (r.dtype == DType::f32) {
    out.resize(r.nbytes / 4);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = load_le<float>(p + 4 * i);
  } else if (r.dtype == DType::f24) {
    out.resize(r.nbytes / 3);
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::uint32_t b = static_cast<std::uint32_t>(p[3 * i]) << 8 |
                              static_cast<std::uint32_t>(p[3 * i + 1]) << 16 |
                              static_cast<std::uint32_t>(p[3 * i + 2]) << 24;
      std::memcpy(&out[i], &b, 4);
    }
  } else if (r.dtype == DType::i8) {
    if (r.shape.empty()) fail("record '" + r.name + "': i8 needs at least one axis (rows)");
    const std::size_t rows = r.shape[0];
    // the scales are plain f32 (require refuses any other dtype, so no recursion): one per
    // row, or (version 5) a single scale for every row
    const Record* q = find(r.name + ".qscale");
    const bool whole = q && version_ >= 5 && q->shape.size() == 1 && q->shape[0] == 1;
    const Record& sr = require(r.name + ".qscale", {DType::f32},
                               {whole ? 1LL : static_cast<long long>(rows)});
    std::vector<float> scale(rows);
    for (std::size_t i = 0; i < rows; ++i) {
      scale[i] = load_le<float>(bytes_.data() + sr.offset + (whole ? 0 : 4 * i));
    }
    out.resize(r.nbytes);
    const std::size_t cols = rows ? r.nbytes / rows : 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const auto q = static_cast<std::int8_t>(p[i]);
      out[i] = static_cast<float>(q) * scale[i / cols];
    }
  } else {
    out.resize(r.nbytes / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = half_to_float(load_le<std::uint16_t>(p + 2 * i));
    }
  }
  for (float v : out) {
    if (!(v == v) || v - v != 0.0f) fail("record '" + r.name + "' holds NaN or infinity");
  }
  return out;
}

std::vector<std::int32_t> Container::ints(std::string_view rec,
                                          std::initializer_list<long long> shape) const {
  const Record& r = require(rec, {DType::i32}, shape);
  std::vector<std::int32_t> out(r.nbytes / 4);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = load_le<std::int32_t>(bytes_.data() + r.offset + 4 * i);
  }
  return out;
}

std::vector<double> Container::doubles(std::string_view rec,
                                       std::initializer_list<long long> shape) const {
  const Record& r = require(rec, {DType::f64}, shape);
  std::vector<double> out(r.nbytes / 8);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = load_le<double>(bytes_.data() + r.offset + 8 * i);
    if (!(out[i] == out[i]) || out[i] - out[i] != 0.0) {
      fail("record '" + r.name + "' holds NaN or infinity");
    }
  }
  return out;
}

namespace {
// Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF) and no NUL bytes.
bool valid_utf8(const std::uint8_t* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t c = p[i];
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07u;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3Fu);
    }
    static const std::uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}
}  // namespace

std::string Container::text(std::string_view rec) const {
  const Record& r = require(rec, {DType::u8}, {-1});
  const std::uint8_t* p = bytes_.data() + r.offset;
  if (!valid_utf8(p, r.nbytes)) fail("record '" + r.name + "' is not valid UTF-8 text");
  return std::string(reinterpret_cast<const char*>(p), r.nbytes);
}

float Container::scalar(std::string_view rec) const { return floats(rec, {1})[0]; }

ops::Buffer<std::uint64_t> Container::bits(std::string_view rec, std::size_t rows,
                                           std::size_t k) const {
  const Record& r = require(rec, {DType::bits},
                            {static_cast<long long>(rows), static_cast<long long>(k)});
  const std::size_t row_bytes = (k + 7) / 8;
  const std::size_t stride = packed_row_words(k);
  ops::Buffer<std::uint64_t> out(rows * stride, 0);
  const std::uint8_t* p = bytes_.data() + r.offset;
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t b = 0; b < row_bytes; ++b) {
      std::uint8_t byte = p[i * row_bytes + b];
      if (b == row_bytes - 1 && k % 8 != 0 && (byte >> (k % 8)) != 0) {
        fail("record '" + r.name + "' has nonzero padding bits");
      }
      out[i * stride + b / 8] |= static_cast<std::uint64_t>(byte) << (8 * (b % 8));
    }
  }
  return out;
}

}  // namespace detail
}  // namespace bifsmn
