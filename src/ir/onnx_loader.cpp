// SPDX-License-Identifier: Apache-2.0
// Loading and validating ONNX models, including external data:
//   TensorProto.data_location == EXTERNAL with external_data entries
//   location (relative to the model's folder), offset (default 0), length (default: to end of file).
#include <google/protobuf/io/coded_stream.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_set>

#include "file_mapping.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/util/log.h"

namespace fs = std::filesystem;

namespace ptq::onnx_io {
namespace {

std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) PTQ_FAIL(IoError, path.string(), ": no such file");
  if (fs::is_directory(path, ec)) PTQ_FAIL(IoError, path.string(), ": is a directory, not a model file");
  std::ifstream in(path, std::ios::binary);
  if (!in) PTQ_FAIL(IoError, path.string(), ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) PTQ_FAIL(IoError, path.string(), ": read error");
  return ss.str();
}

struct ExternalRef {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
};

ExternalRef parse_external_ref(const onnx::TensorProto& t) {
  ExternalRef ref;
  for (const auto& kv : t.external_data()) {
    try {
      if (kv.key() == "location") ref.location = kv.value();
      else if (kv.key() == "offset") ref.offset = std::stoll(kv.value());
      else if (kv.key() == "length") ref.length = std::stoll(kv.value());
    } catch (const std::exception&) {
      PTQ_FAIL(ModelError, "tensor '", t.name(), "': bad external_data ", kv.key(), " '", kv.value(), "'");
    }
  }
  if (ref.location.empty()) PTQ_FAIL(ModelError, "tensor '", t.name(), "': external data without a location");
  fs::path loc(ref.location);
  if (loc.is_absolute()) PTQ_FAIL(ModelError, "tensor '", t.name(), "': external data location must be relative: '", ref.location, "'");
  for (const auto& part : loc)
    if (part == "..") PTQ_FAIL(ModelError, "tensor '", t.name(), "': external data location escapes the model folder: '", ref.location, "'");
  if (ref.offset < 0) PTQ_FAIL(ModelError, "tensor '", t.name(), "': negative external data offset");
  return ref;
}

// Live file mappings [start, start + length), so that release_pages only ever touches mapped memory.
std::mutex mappings_mutex;
std::map<uintptr_t, size_t> mappings;

// The external data files mapped so far, by path.
using FileMaps = std::map<fs::path, std::shared_ptr<void>>;

// A view of t's bytes in the mapped file, or an undefined Tensor when t cannot be a view (a type
// stored otherwise than in memory, a length that does not match the shape, an offset not 64-byte aligned).
Tensor mapped_view(const onnx::TensorProto& t, const fs::path& file, size_t file_size, const ExternalRef& ref,
                   int64_t length, FileMaps& maps) {
  DType dtype = dtype_from_onnx(t.data_type());
  // Float weights of a page or more only: shape inference reads small integer initializers (Reshape
  // shapes) from the proto.
  if (!dtype_is_float(dtype) || length < 4096) return {};
  Shape shape(t.dims().begin(), t.dims().end());
  for (int64_t d : shape)
    if (d < 0) return {};
  if (static_cast<size_t>(length) != static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype)) return {};
  if (ref.offset % 64 != 0) return {};
  auto& map = maps[file];
  if (!map) map = map_file(file, file_size);
  if (!map) return {};
  std::shared_ptr<void> at(map, static_cast<char*>(map.get()) + ref.offset);
  return Tensor::wrap(dtype, std::move(shape), std::move(at));
}

void load_external_tensor(onnx::TensorProto& t, const fs::path& base_dir, LoadedModel& out, FileMaps* maps) {
  ExternalRef ref = parse_external_ref(t);
  fs::path file = base_dir / ref.location;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    PTQ_FAIL(IoError, "tensor '", t.name(), "': external data file ", file.string(), " not found");
  auto size = static_cast<int64_t>(fs::file_size(file, ec));
  int64_t length = ref.length >= 0 ? ref.length : size - ref.offset;
  if (ref.offset + length > size)
    PTQ_FAIL(ModelError, "tensor '", t.name(), "': external data [", ref.offset, ", ", ref.offset + length,
             ") lies beyond the end of ", file.string(), " (", size, " bytes)");
  Tensor view = maps ? mapped_view(t, file, static_cast<size_t>(size), ref, length, *maps) : Tensor();
  if (view.defined()) {
    out.mapped[t.name()] = std::move(view);
  } else {
    std::ifstream in(file, std::ios::binary);
    std::string data(static_cast<size_t>(length), '\0');
    in.seekg(ref.offset);
    in.read(data.data(), length);
    if (!in) PTQ_FAIL(IoError, "tensor '", t.name(), "': cannot read external data from ", file.string());
    t.set_raw_data(std::move(data));
    t.clear_external_data();
    t.set_data_location(onnx::TensorProto::DEFAULT);
  }
  out.external_tensors.push_back(t.name());
  fs::path canonical = fs::weakly_canonical(file, ec);
  bool seen = false;
  for (const auto& p : out.external_files) seen = seen || p == canonical;
  if (!seen) out.external_files.push_back(canonical);
}

// SSA check: every name is produced once in its scope, and not again in a nested scope.
void check_unique_names(const onnx::GraphProto& graph, std::unordered_set<std::string>& defined,
                        const std::string& where) {
  auto define = [&](const std::string& name, const char* what) {
    if (name.empty()) return;
    if (!defined.insert(name).second)
      PTQ_FAIL(ModelError, where, "duplicate tensor name '", name, "' (", what, ")");
  };
  std::set<std::string> input_names;
  for (const auto& vi : graph.input()) {
    define(vi.name(), "graph input");
    input_names.insert(vi.name());
  }
  for (const auto& t : graph.initializer())
    if (!input_names.count(t.name())) define(t.name(), "initializer");
  for (const auto& st : graph.sparse_initializer())
    if (!input_names.count(st.values().name())) define(st.values().name(), "sparse initializer");
  for (const auto& node : graph.node()) {
    std::string node_where = where + "node '" + node.name() + "' (" + node.op_type() + "): ";
    for (const auto& attr : node.attribute()) {
      if (attr.has_g()) {
        auto inner = defined;
        check_unique_names(attr.g(), inner, node_where + "subgraph '" + attr.name() + "': ");
      }
      for (const auto& g : attr.graphs()) {
        auto inner = defined;
        check_unique_names(g, inner, node_where + "subgraph '" + attr.name() + "': ");
      }
    }
    for (const auto& o : node.output()) define(o, ("output of node '" + node.name() + "'").c_str());
  }
}

}  // namespace

std::shared_ptr<void> map_file(const fs::path& file, size_t size) {
  if (size == 0) return nullptr;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) PTQ_FAIL(IoError, "cannot open external data file ", file.string());
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) PTQ_FAIL(IoError, "cannot map external data file ", file.string());
  {
    std::lock_guard<std::mutex> lock(mappings_mutex);
    mappings[reinterpret_cast<uintptr_t>(p)] = size;
  }
  return std::shared_ptr<void>(p, [size](void* q) {
    {
      std::lock_guard<std::mutex> lock(mappings_mutex);
      mappings.erase(reinterpret_cast<uintptr_t>(q));
    }
    ::munmap(q, size);
  });
}


void validate_model(const onnx::ModelProto& model) {
  if (model.ir_version() <= 0)
    PTQ_FAIL(ModelError, "not an ONNX model (no IR version; is this really a .onnx file?)");
  if (model.ir_version() > kMaxIrVersion)
    PTQ_FAIL(ModelError, "unknown IR version ", model.ir_version(), " (this build reads IR versions 1..",
             kMaxIrVersion, ")");
  if (!model.has_graph() || model.graph().node_size() == 0) PTQ_FAIL(ModelError, "the model's graph is empty (no nodes)");
  if (model.ir_version() >= 3 && default_opset(model) == 0)
    PTQ_FAIL(ModelError, "no opset imported for the default ONNX domain");
  std::unordered_set<std::string> defined;
  check_unique_names(model.graph(), defined, "");
}

onnx::ModelProto parse_model(const std::string& bytes, const std::string& origin) {
  if (bytes.empty()) PTQ_FAIL(ModelError, origin, ": empty file");
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream stream(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
  stream.SetTotalBytesLimit(INT_MAX);
  bool ok = bytes.size() <= INT_MAX && model.ParseFromCodedStream(&stream) && stream.ConsumedEntireMessage();
  if (!ok) {
    // A model starts with field 1 (ir_version, varint): tag byte 0x08.
    bool looks_like_model = static_cast<unsigned char>(bytes[0]) == 0x08;
    if (looks_like_model)
      PTQ_FAIL(ModelError, origin, ": corrupt or truncated ONNX protobuf (", bytes.size(), " bytes could not be parsed)");
    PTQ_FAIL(ModelError, origin, ": not an ONNX model (the file is not a valid protobuf)");
  }
  try {
    validate_model(model);
  } catch (Error& e) {
    e.append_context(origin);
    throw;
  }
  return model;
}

LoadedModel load_model(const fs::path& path, const LoadOptions& options) {
  LoadedModel out;
  out.path = path;
  out.proto = parse_model(read_file(path), path.string());
  fs::path base_dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  try {
    // The graph's initializers may stay mapped; tensors anywhere else are read.
    std::set<const onnx::TensorProto*> mappable;
    if (options.map_external)
      for (const auto& t : out.proto.graph().initializer()) mappable.insert(&t);
    FileMaps maps;
    for_each_tensor(*out.proto.mutable_graph(), [&](onnx::TensorProto& t) {
      if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
      load_external_tensor(t, base_dir, out, mappable.count(&t) ? &maps : nullptr);
    });
  } catch (Error& e) {
    e.append_context(path.string());
    throw;
  }
  if (!out.external_tensors.empty())
    log::debug(path.string(), ": read ", out.external_tensors.size(), " tensors from external data");
  return out;
}

void inline_mapped(LoadedModel& loaded, onnx::ModelProto& model) {
  if (loaded.mapped.empty()) return;
  for (auto& t : *model.mutable_graph()->mutable_initializer()) {
    auto it = loaded.mapped.find(t.name());
    if (t.data_location() != onnx::TensorProto::EXTERNAL || it == loaded.mapped.end()) continue;
    t.set_raw_data(it->second.raw(), it->second.nbytes());
    t.clear_external_data();
    t.set_data_location(onnx::TensorProto::DEFAULT);
  }
  loaded.mapped.clear();
}

void release_pages(const Tensor& tensor) {
  if (!tensor.defined() || tensor.nbytes() == 0) return;
  auto begin = reinterpret_cast<uintptr_t>(tensor.raw());
  uintptr_t end = begin + tensor.nbytes();
  {
    std::lock_guard<std::mutex> lock(mappings_mutex);
    auto it = mappings.upper_bound(begin);
    if (it == mappings.begin()) return;
    --it;
    if (end > it->first + it->second) return;
  }
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;  // whole pages only
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace ptq::onnx_io
