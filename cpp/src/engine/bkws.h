// .bkws container parsing (docs/bkws-format.md): header, CRCs, typed records.
// Everything read from the file is bounds-checked here; the network builder
// only sees records whose byte size matches their dtype and shape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "../ops/common.h"

namespace bifsmn::detail {

inline constexpr char kMagic[8] = {'B', 'K', 'W', 'S', '\r', '\n', '\x1a', '\n'};
// Version 2 added the feature kind (record feat.kind); version 1 files are logmel32.
// Version 3 stores block counts in record 'paths' (versions 1-2: path indices).
// Version 4 adds the narrow float storages i8 (per-row int8, scales in record
// NAME.qscale) and f24 (upper 24 bits of a float32); older versions may not use them.
// Version 5 lets NAME.qscale hold one scale for the whole i8 record (shape (1,)): the
// per-channel vectors of `bifsmn export --storage` plans (i8r), whose rows are single values.
inline constexpr std::uint32_t kVersion = 5;
inline constexpr std::uint32_t kMinVersion = 1;
inline constexpr std::size_t kHeaderSize = 32;
inline constexpr std::size_t kMaxName = 64;
inline constexpr std::size_t kMaxNdim = 4;

enum class DType : std::uint8_t {
  u8 = 1, i32 = 2, f32 = 3, f16 = 4, bits = 5, f64 = 6, i8 = 7, f24 = 8
};
const char* dtype_name(DType d) noexcept;

struct Record {
  std::string name;
  DType dtype{};
  std::vector<std::uint32_t> shape;
  std::size_t offset = 0;  // into the container's bytes
  std::size_t nbytes = 0;
};

float half_to_float(std::uint16_t h) noexcept;

class Container {
 public:
  // Takes the whole file image; throws BkwsError("<name>: ...") on any defect.
  Container(std::vector<std::uint8_t> bytes, std::string name);

  const std::string& name() const { return name_; }
  std::uint32_t version() const { return version_; }
  std::size_t size() const { return bytes_.size(); }
  bool has(std::string_view rec) const { return find(rec) != nullptr; }
  const Record* find(std::string_view rec) const;

  // Typed accessors: the record must exist with this dtype and shape
  // (-1 in `shape` matches any extent); else BkwsError naming the record.
  const Record& require(std::string_view rec, std::initializer_list<DType> dtypes,
                        std::initializer_list<long long> shape) const;
  // f32, f16 or f24 record -> floats (exact widening); an i8 record is
  // dequantized with its per-row f32 scales (record NAME.qscale, one per row of
  // the first axis, or from version 5 one for the whole record) as float(q) * scale,
  // the arithmetic of bifsmn.deploy.storage. In the engine's aligned storage (ops::Buffer), as
  // bits() below: the weights are used where they are loaded.
  ops::Buffer<float> floats(std::string_view rec,
                            std::initializer_list<long long> shape) const;
  std::vector<std::int32_t> ints(std::string_view rec,
                                 std::initializer_list<long long> shape) const;
  std::vector<double> doubles(std::string_view rec,
                              std::initializer_list<long long> shape) const;
  std::string text(std::string_view rec) const;
  // bits record (rows x k) -> packed rows with stride packed_row_words(k),
  // padding zero (bitpack.h convention). Nonzero padding bits in the file
  // are an error (the exporter writes zeros).
  ops::Buffer<std::uint64_t> bits(std::string_view rec, std::size_t rows,
                                  std::size_t k) const;
  float scalar(std::string_view rec) const;

  [[noreturn]] void fail(const std::string& msg) const;

 private:
  std::vector<std::uint8_t> bytes_;
  std::string name_;
  std::uint32_t version_ = 0;
  std::vector<Record> records_;
};

}  // namespace bifsmn::detail
