#include "bifsmn/wav.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "bifsmn/engine.h"

namespace bifsmn {

namespace {
std::uint32_t u32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
std::uint16_t u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}
}  // namespace

Wave parse_wav(const std::uint8_t* d, std::size_t n, const std::string& name) {
  auto fail = [&](const std::string& msg) -> void { throw BkwsError(name + ": " + msg); };
  if (n < 12 || std::memcmp(d, "RIFF", 4) != 0 || std::memcmp(d + 8, "WAVE", 4) != 0) {
    fail("not a RIFF/WAVE file");
  }
  std::size_t pos = 12;
  bool have_fmt = false;
  int format = 0, channels = 0, bits = 0;
  std::uint32_t rate = 0;
  std::size_t block = 0;
  while (pos + 8 <= n) {
    const std::uint8_t* c = d + pos;
    const std::size_t len = u32(c + 4);
    const std::size_t body = pos + 8;
    if (std::memcmp(c, "fmt ", 4) == 0) {
      if (len < 16 || len > n - body) fail("truncated or malformed fmt chunk");
      format = u16(d + body);
      channels = u16(d + body + 2);
      rate = u32(d + body + 4);
      block = u16(d + body + 12);
      bits = u16(d + body + 14);
      if (format == 0xFFFE) {  // WAVE_FORMAT_EXTENSIBLE: subformat GUID starts at +24
        if (len < 40) fail("truncated WAVE_FORMAT_EXTENSIBLE fmt chunk");
        format = u16(d + body + 24);
      }
      have_fmt = true;
    } else if (std::memcmp(c, "data", 4) == 0) {
      if (!have_fmt) fail("data chunk before fmt chunk");
      const bool pcm16 = format == 1 && bits == 16;
      const bool f32 = format == 3 && bits == 32;
      if (!pcm16 && !f32) {
        fail("unsupported sample format (format " + std::to_string(format) + ", " +
             std::to_string(bits) + " bits): use PCM 16-bit or float 32-bit WAV");
      }
      if (channels < 1 || channels > 64) fail("bad channel count " + std::to_string(channels));
      if (block != static_cast<std::size_t>(channels) * bits / 8) fail("inconsistent block align");
      if (rate == 0) fail("sample rate 0");
      std::size_t have = n - body;
      if (len != 0xFFFFFFFFu && len > have) {
        fail("truncated WAV: header declares " + std::to_string(len) +
             " bytes of audio, file holds " + std::to_string(have));
      }
      if (len != 0xFFFFFFFFu) have = len;
      const std::size_t frames = have / block;
      if (frames == 0) fail("audio file holds no samples");
      Wave w;
      w.sample_rate = static_cast<int>(std::min<std::uint32_t>(rate, 0x7FFFFFFF));
      w.channels = channels;
      w.mono.resize(frames);
      w.frames = frames;
      const std::uint8_t* s = d + body;
      for (std::size_t i = 0; i < frames; ++i) {
        double acc = 0;
        for (int ch = 0; ch < channels; ++ch) {
          const std::uint8_t* p = s + i * block + static_cast<std::size_t>(ch) * (bits / 8);
          if (pcm16) {
            acc += static_cast<std::int16_t>(u16(p)) / 32768.0;
          } else {
            float v;
            const std::uint32_t b = u32(p);
            std::memcpy(&v, &b, 4);
            if (!(v == v) || v - v != 0.0f) fail("audio contains NaN or infinite samples");
            if (v > kMaxFloatSample || v < -kMaxFloatSample) {
              fail("float sample of magnitude " + std::to_string(std::fabs(v)) +
                   " (float audio must lie in [-1, 1]; |x| > 1000 is refused as corrupt)");
            }
            acc += v;
          }
        }
        w.mono[i] = static_cast<float>(acc / channels);
      }
      return w;
    }
    if (len > n - body) break;
    pos = body + len + (len & 1);
  }
  fail(have_fmt ? "truncated WAV: no data chunk" : "no fmt chunk");
  return {};
}

Wave read_wav(const std::string& path, std::size_t max_frames) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw BkwsError(path + ": cannot open audio file (no such file)");
  if (S_ISDIR(st.st_mode)) throw BkwsError(path + ": cannot open audio file: not a regular file (a directory)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BkwsError(path + ": cannot open audio file");
  std::vector<std::uint8_t> buf;
  auto fill = [&](std::size_t upto) {  // read until buf holds upto bytes or the file ends
    while (buf.size() < upto && in) {
      const std::size_t want = std::min<std::size_t>(upto - buf.size(), std::size_t{1} << 20);
      const std::size_t at = buf.size();
      buf.resize(at + want);
      in.read(reinterpret_cast<char*>(buf.data() + at), static_cast<std::streamsize>(want));
      buf.resize(at + static_cast<std::size_t>(in.gcount()));
    }
  };
  const bool regular = S_ISREG(st.st_mode);
  const std::size_t file_size = regular ? static_cast<std::size_t>(st.st_size) : 0;
  // Walk the chunks, reading each before the data chunk whole (fmt and small metadata) and of
  // the data chunk only the frames wanted; parse_wav then reads the buffer, whose data chunk
  // length is cut to those frames (a declared length beyond the file is still "truncated").
  if (max_frames == 0) throw BkwsError(path + ": read_wav: max_frames must be at least 1");
  fill(12);
  if (buf.size() >= 12 && (std::memcmp(buf.data(), "RIFF", 4) != 0 ||
                           std::memcmp(buf.data() + 8, "WAVE", 4) != 0)) {
    throw BkwsError(path + ": not a RIFF/WAVE file");  // before walking a stream of anything
  }
  // chunks before the audio: metadata, kilobytes in practice; a stream of zero-length chunks
  // (or a device) would otherwise be walked without end
  constexpr std::size_t kMaxHeaderBytes = std::size_t{64} << 20;
  std::size_t pos = 12, block = 0, total = 0;
  bool cut = false, read_all = max_frames == static_cast<std::size_t>(-1);
  while (buf.size() >= 12) {
    if (pos > kMaxHeaderBytes) {
      throw BkwsError(path + ": no audio (data chunk) in the first 64 MiB of the file");
    }
    fill(pos + 8);
    if (buf.size() < pos + 8) break;
    const std::size_t len = u32(buf.data() + pos + 4), body = pos + 8;
    if (std::memcmp(buf.data() + pos, "data", 4) == 0) {
      const bool open_len = len == 0xFFFFFFFFu;  // streaming writers: "to the end of file"
      const std::size_t have = file_size - std::min(file_size, body);
      if (regular && !open_len && len > have) {  // as parse_wav says it, without reading it all
        throw BkwsError(path + ": truncated WAV: header declares " + std::to_string(len) +
                        " bytes of audio, file holds " + std::to_string(have));
      }
      if (block == 0 || max_frames >= (static_cast<std::size_t>(-1) - body) / block ||
          max_frames * block > 0xFFFFFFFEu) {  // fmt missing (parse_wav says so), or more
        read_all = true;                      // than a data chunk can declare: read it all
        break;
      }
      const std::size_t wanted = max_frames * block;
      if (!open_len && len <= wanted) {
        fill(body + len);
        break;
      }
      fill(body + wanted);
      if (buf.size() < body + wanted) break;  // fewer frames than wanted: parse_wav reads them
      total = open_len ? (regular ? (file_size - body) / block : 0) : len / block;
      if (open_len && regular && total <= max_frames) break;  // all of it is in buf already
      const std::uint32_t keep = static_cast<std::uint32_t>(wanted);
      for (int i = 0; i < 4; ++i) buf[pos + 4 + i] = static_cast<std::uint8_t>(keep >> (8 * i));
      cut = true;
      break;
    }
    fill(body + len);
    if (std::memcmp(buf.data() + pos, "fmt ", 4) == 0 && buf.size() >= body + 16) {
      block = u16(buf.data() + body + 12);
    }
    pos = body + len + (len & 1);
  }
  if (read_all) fill(static_cast<std::size_t>(-1));
  if (buf.empty()) throw BkwsError(path + ": empty file (0 bytes)");
  Wave w = parse_wav(buf.data(), buf.size(), path);
  w.cut = cut;
  w.frames = cut && total > w.mono.size() ? total : w.mono.size();
  return w;
}

}  // namespace bifsmn
