// SPDX-License-Identifier: Apache-2.0
#include <google/protobuf/util/message_differencer.h>

#include "ptq/ir/data_file_writer.h"
#include "ptq/ir/graph.h"
#include "ptq/ir/onnx_io.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;

namespace {

const char* kSmallModel = R"(
<ir_version: 8, opset_import: ["" : 13]>
small (float[1,4] x) => (float[1,3] y) {
  h = MatMul(x, w)
  y = Add(h, b)
}
)";

onnx::ModelProto small_model() {
  onnx::ModelProto m = test::parse_text_model(kSmallModel);
  test::add_initializer(m, "w", test::random_tensor({4, 3}, 1));
  test::add_initializer(m, "b", test::random_tensor({3}, 2));
  return m;
}

// Expects load_model(path) to throw ErrorType with a message containing every fragment.
template <class ErrorType>
void expect_load_error(const fs::path& path, std::initializer_list<const char*> fragments) {
  try {
    onnx_io::load_model(path);
    FAIL() << "no error for " << path;
  } catch (const ErrorType& e) {
    std::string msg = e.what();
    for (const char* f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "message: " << msg << "\nmissing: " << f;
  }
}

}  // namespace

TEST(OnnxIo, MissingFile) {
  expect_load_error<IoError>("/nonexistent/model.onnx", {"/nonexistent/model.onnx", "no such file"});
}

TEST(OnnxIo, NotAProtobuf) {
  fs::path p = test::fresh_dir() / "text.onnx";
  test::write_bytes(p, "this is a text file, not a model\n");
  expect_load_error<ModelError>(p, {"text.onnx", "not an ONNX model"});
}

TEST(OnnxIo, EmptyFile) {
  fs::path p = test::fresh_dir() / "empty.onnx";
  test::write_bytes(p, "");
  expect_load_error<ModelError>(p, {"empty.onnx", "empty file"});
}

TEST(OnnxIo, Truncated) {
  fs::path dir = test::fresh_dir();
  std::string bytes;
  ASSERT_TRUE(small_model().SerializeToString(&bytes));
  test::write_bytes(dir / "cut.onnx", bytes.substr(0, bytes.size() / 2));
  expect_load_error<ModelError>(dir / "cut.onnx", {"cut.onnx", "truncated"});
}

TEST(OnnxIo, EmptyGraph) {
  onnx::ModelProto m = small_model();
  m.mutable_graph()->clear_node();
  fs::path p = test::fresh_dir() / "nograph.onnx";
  test::write_model(m, p);
  expect_load_error<ModelError>(p, {"nograph.onnx", "graph is empty"});
}

TEST(OnnxIo, UnknownIrVersion) {
  onnx::ModelProto m = small_model();
  m.set_ir_version(99);
  fs::path p = test::fresh_dir() / "ir99.onnx";
  test::write_model(m, p);
  expect_load_error<ModelError>(p, {"ir99.onnx", "unknown IR version 99"});
}

TEST(OnnxIo, DuplicateTensorNames) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
dup (float[2] x) => (float[2] y) {
  y = Relu(x)
  y = Neg(x)
}
)");
  fs::path p = test::fresh_dir() / "dup.onnx";
  test::write_model(m, p);
  expect_load_error<ModelError>(p, {"dup.onnx", "duplicate tensor name 'y'"});
}

TEST(OnnxIo, DuplicateInitializer) {
  onnx::ModelProto m = small_model();
  test::add_initializer(m, "w", test::random_tensor({4, 3}, 3));
  fs::path p = test::fresh_dir() / "dupinit.onnx";
  test::write_model(m, p);
  expect_load_error<ModelError>(p, {"duplicate tensor name 'w'", "initializer"});
}

TEST(OnnxIo, RoundTripIsIdentical) {
  fs::path dir = test::fresh_dir();
  onnx::ModelProto m = small_model();
  test::write_model(m, dir / "in.onnx");
  auto loaded = onnx_io::load_model(dir / "in.onnx");
  onnx_io::save_model(loaded.proto, dir / "out.onnx");
  auto again = onnx_io::load_model(dir / "out.onnx");
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(m, again.proto));
  EXPECT_EQ(test::read_bytes(dir / "in.onnx"), test::read_bytes(dir / "out.onnx"));
}

TEST(OnnxIo, ExternalDataRoundTrip) {
  fs::path dir = test::fresh_dir();
  onnx::ModelProto m = small_model();
  Tensor big = test::random_tensor({64, 64}, 7);
  test::add_initializer(m, "big", big);
  onnx_io::SaveOptions options;
  options.external_data = onnx_io::ExternalData::Always;
  options.external_threshold_bytes = 1024;
  onnx_io::save_model(m, dir / "ext.onnx", options);
  ASSERT_TRUE(fs::exists(dir / "ext.onnx.data"));
  // Only "big" (16 KB) crosses the threshold; the small tensors stay inline.
  EXPECT_EQ(fs::file_size(dir / "ext.onnx.data"), big.nbytes());
  onnx::ModelProto on_disk;
  ASSERT_TRUE(on_disk.ParseFromString(test::read_bytes(dir / "ext.onnx")));
  int external = 0;
  for (const auto& t : on_disk.graph().initializer()) external += t.data_location() == onnx::TensorProto::EXTERNAL;
  EXPECT_EQ(external, 1);

  auto loaded = onnx_io::load_model(dir / "ext.onnx");
  ASSERT_EQ(loaded.external_tensors.size(), 1u);
  EXPECT_EQ(loaded.external_tensors[0], "big");
  GraphOptions go;
  go.external_tensors = loaded.external_tensors;
  Graph g = build_graph(loaded.proto, go);
  const Tensor* w = g.weight("big");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->to_vector<float>(), big.to_vector<float>());
  EXPECT_EQ(g.weights.at("big").source, WeightSource::External);
}

// A model with two weights in external data (16 KB and 32 KB) and its small ones inline.
fs::path write_external_model(const fs::path& dir, Tensor& a, Tensor& b) {
  onnx::ModelProto m = small_model();
  a = test::random_tensor({64, 64}, 11);
  b = test::random_tensor({128, 64}, 12);
  test::add_initializer(m, "wa", a);
  test::add_initializer(m, "wb", b);
  onnx_io::SaveOptions options;
  options.external_data = onnx_io::ExternalData::Always;
  onnx_io::save_model(m, dir / "ext.onnx", options);
  return dir / "ext.onnx";
}

onnx_io::LoadedModel load_mapped(const fs::path& path) {
  onnx_io::LoadOptions options;
  options.map_external = true;
  return onnx_io::load_model(path, options);
}

TEST(OnnxIo, MappedExternalDataIsAViewOfTheFile) {
  fs::path dir = test::fresh_dir();
  Tensor a, b;
  fs::path path = write_external_model(dir, a, b);
  auto loaded = load_mapped(path);
  ASSERT_EQ(loaded.mapped.size(), 2u);
  EXPECT_EQ(loaded.mapped.at("wa").to_vector<float>(), a.to_vector<float>());
  EXPECT_EQ(loaded.mapped.at("wb").to_vector<float>(), b.to_vector<float>());
  EXPECT_EQ(loaded.mapped.at("wb").shape(), (Shape{128, 64}));
  EXPECT_EQ(loaded.external_tensors.size(), 2u);
  for (const auto& t : loaded.proto.graph().initializer()) {
    if (t.name() == "wa" || t.name() == "wb") {
      EXPECT_EQ(t.data_location(), onnx::TensorProto::EXTERNAL) << t.name();
    }
  }

  // The graph's weights are the mapped views, not copies.
  GraphOptions go;
  go.external_tensors = loaded.external_tensors;
  go.mapped = &loaded.mapped;
  Graph g = build_graph(loaded.proto, go);
  EXPECT_TRUE(g.weight("wa")->shares_buffer(loaded.mapped.at("wa")));
  EXPECT_EQ(g.weights.at("wb").source, WeightSource::External);

  // Dropped pages are read back from the file; a tensor that is not mapped is left alone.
  onnx_io::release_pages(loaded.mapped.at("wb"));
  EXPECT_EQ(loaded.mapped.at("wb").to_vector<float>(), b.to_vector<float>());
  Tensor heap = b.clone();
  onnx_io::release_pages(heap);
  EXPECT_EQ(heap.to_vector<float>(), b.to_vector<float>());

  // inline_mapped gives what loading without mapping gives.
  onnx_io::inline_mapped(loaded, loaded.proto);
  EXPECT_TRUE(loaded.mapped.empty());
  auto read = onnx_io::load_model(path);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(read.proto, loaded.proto));
}

TEST(OnnxIo, SavingFromTheMappingWritesWhatTheInMemoryPathWrites) {
  fs::path dir = test::fresh_dir();
  Tensor a, b;
  fs::path path = write_external_model(dir, a, b);
  // The same file name in two folders, so that the data files' locations match.
  fs::create_directories(dir / "read");
  fs::create_directories(dir / "mapped");
  for (auto mode : {onnx_io::ExternalData::Always, onnx_io::ExternalData::Never, onnx_io::ExternalData::Auto}) {
    auto mapped = load_mapped(path);
    auto read = onnx_io::load_model(path);
    onnx_io::SaveOptions options;
    options.external_data = mode;
    options.protected_paths = mapped.external_files;
    options.protected_paths.push_back(path);
    onnx_io::save_model(read.proto, dir / "read" / "q.onnx", options);
    options.mapped = &mapped.mapped;
    onnx_io::save_model(mapped.proto, dir / "mapped" / "q.onnx", options);
    EXPECT_EQ(test::read_bytes(dir / "read" / "q.onnx"), test::read_bytes(dir / "mapped" / "q.onnx"));
    bool external = mode == onnx_io::ExternalData::Always;
    ASSERT_EQ(fs::exists(dir / "mapped" / "q.onnx.data"), external);
    if (external) {
      EXPECT_EQ(test::read_bytes(dir / "read" / "q.onnx.data"), test::read_bytes(dir / "mapped" / "q.onnx.data"));
    }
    fs::remove(dir / "read" / "q.onnx.data");
    fs::remove(dir / "mapped" / "q.onnx.data");
    // The mapped input is untouched and still loads.
    EXPECT_EQ(onnx_io::load_model(path).proto.graph().initializer_size(), read.proto.graph().initializer_size());
  }
  // Writing over the input's data file from its own mapping is refused.
  auto mapped = load_mapped(path);
  onnx_io::SaveOptions options;
  options.external_data = onnx_io::ExternalData::Always;
  options.protected_paths = mapped.external_files;
  options.mapped = &mapped.mapped;
  EXPECT_THROW(onnx_io::save_model(mapped.proto, dir / "ext.onnx", options), IoError);
  EXPECT_EQ(onnx_io::load_model(path).proto.graph().initializer_size(), mapped.proto.graph().initializer_size());
}

TEST(OnnxIo, ExternalDataOffsetsAndMissingFile) {
  fs::path dir = test::fresh_dir();
  onnx::ModelProto m = small_model();
  // Hand-written external reference: 8 floats at offset 16 of weights.bin.
  std::string blob(16, 'x');
  std::vector<float> values = {1, 2, 3, 4, 5, 6, 7, 8};
  blob.append(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  test::write_bytes(dir / "weights.bin", blob);
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name("ext");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(8);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto kv = [&](const char* k, const char* v) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  kv("location", "weights.bin");
  kv("offset", "16");
  kv("length", "32");
  test::write_model(m, dir / "m.onnx");
  auto loaded = onnx_io::load_model(dir / "m.onnx");
  EXPECT_EQ(build_graph(loaded.proto).weight("ext")->to_vector<float>(), values);

  fs::remove(dir / "weights.bin");
  expect_load_error<IoError>(dir / "m.onnx", {"m.onnx", "tensor 'ext'", "weights.bin", "not found"});

  test::write_bytes(dir / "weights.bin", std::string(20, 'x'));
  expect_load_error<ModelError>(dir / "m.onnx", {"tensor 'ext'", "beyond the end"});
}

TEST(OnnxIo, ExternalDataMustStayInModelFolder) {
  fs::path dir = test::fresh_dir();
  onnx::ModelProto m = small_model();
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name("evil");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(1);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* e = t->add_external_data();
  e->set_key("location");
  e->set_value("../../etc/passwd");
  test::write_model(m, dir / "m.onnx");
  expect_load_error<ModelError>(dir / "m.onnx", {"tensor 'evil'", "escapes the model folder"});
}

TEST(OnnxIo, RefusesToOverwriteInput) {
  fs::path dir = test::fresh_dir();
  test::write_model(small_model(), dir / "in.onnx");
  std::string before = test::read_bytes(dir / "in.onnx");
  auto loaded = onnx_io::load_model(dir / "in.onnx");
  onnx_io::SaveOptions options;
  options.protected_paths = {dir / "in.onnx"};
  fs::path same = dir / "." / "in.onnx";
  EXPECT_THROW(onnx_io::save_model(loaded.proto, same, options), IoError);
  EXPECT_EQ(test::read_bytes(dir / "in.onnx"), before);
}

TEST(OnnxIo, UnwritableDestinationLeavesNothing) {
  fs::path dir = test::fresh_dir();
  try {
    onnx_io::save_model(small_model(), dir / "missing_folder" / "out.onnx");
    FAIL() << "expected an error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  onnx_io::save_model(small_model(), dir / "out.onnx");
  // Only the final file: no temp file left behind.
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(OnnxIo, ConstantNodeWeightsAreFound) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
consts (float[2,2] x) => (float[2,2] y) {
  w = Constant <value = float[2,2] {1.0, 2.0, 3.0, 4.0}> ()
  s = Constant <value_float = 0.5> ()
  h = MatMul(x, w)
  y = Mul(h, s)
}
)");
  fs::path p = test::fresh_dir() / "c.onnx";
  test::write_model(m, p);
  Graph g = build_graph(onnx_io::load_model(p).proto);
  ASSERT_EQ(g.nodes.size(), 2u);  // Constant nodes became weights
  ASSERT_NE(g.weight("w"), nullptr);
  EXPECT_EQ(g.weight("w")->to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(g.weights.at("w").source, WeightSource::ConstantNode);
  EXPECT_EQ(g.weight("s")->to_vector<float>(), (std::vector<float>{0.5f}));
  EXPECT_EQ(g.weight("s")->rank(), 0);
}

TEST(OnnxIo, DefaultOpsetAndOtherDomainsKept) {
  onnx::ModelProto m = small_model();
  auto* op = m.add_opset_import();
  op->set_domain("com.microsoft");
  op->set_version(1);
  EXPECT_EQ(onnx_io::default_opset(m), 13);
  fs::path dir = test::fresh_dir();
  onnx_io::save_model(m, dir / "d.onnx");
  auto loaded = onnx_io::load_model(dir / "d.onnx");
  ASSERT_EQ(loaded.proto.opset_import_size(), 2);
  EXPECT_EQ(loaded.proto.opset_import(1).domain(), "com.microsoft");
}

// DataFileWriter: tensors written while a model is made (large ones; 4-bit ones packed as ONNX stores
// them; small ones left to the caller), read back as views before the commit, then save_model appends
// the rest to the same file and commits both; a writer that goes without commit leaves nothing behind.
TEST(OnnxIo, DataFileWriterWritesWhileTheModelIsMade) {
  const fs::path dir = test::fresh_dir();
  onnx::ModelProto m = small_model();
  const Tensor big = test::random_tensor({32, 64}, 31);  // 8 KiB
  Tensor codes(DType::Int8, {64, 33});                   // 2112 bytes, an odd length
  for (int64_t i = 0; i < codes.numel(); ++i) codes.data<int8_t>()[i] = static_cast<int8_t>(i % 251 - 125);
  const Tensor small = test::random_tensor({4, 4}, 32);
  Tensor nibbles(DType::Int4, {64, 64});                 // 2048 bytes packed
  for (int64_t i = 0; i < nibbles.numel(); ++i) nibbles.data<int8_t>()[i] = static_cast<int8_t>(i % 16 - 8);
  const Tensor extra = test::random_tensor({16, 64}, 33);  // 4 KiB, inline until save_model appends it
  {
    onnx_io::DataFileWriter data(dir / "q.onnx", 1024, {});
    EXPECT_EQ(data.location(), "q.onnx.data");
    auto* g = m.mutable_graph();
    ASSERT_TRUE(data.write(big, "big", *g->add_initializer()));
    ASSERT_TRUE(data.write(codes, "codes", *g->add_initializer()));
    ASSERT_TRUE(data.write(nibbles, "nibbles", *g->add_initializer()));
    onnx::TensorProto unused;
    EXPECT_FALSE(data.write(small, "small", unused));
    test::add_initializer(m, "small", small);  // inline: below the threshold
    test::add_initializer(m, "extra", extra);
    const onnx::TensorProto& t = m.graph().initializer(3);  // w, b, big, codes
    ASSERT_EQ(t.name(), "codes");
    EXPECT_EQ(t.data_location(), onnx::TensorProto::EXTERNAL);
    EXPECT_EQ(t.data_type(), onnx::TensorProto::INT8);
    EXPECT_EQ(t.external_data(1).value(), "8192");  // after big's 8192 bytes, 4096-aligned
    EXPECT_EQ(m.graph().initializer(4).external_data(2).value(), "2048");  // nibbles: packed length
    const auto& views = data.tensors();
    ASSERT_EQ(views.size(), 3u);
    EXPECT_EQ(views.at("big").to_vector<float>(), big.to_vector<float>());
    EXPECT_EQ(views.at("codes").to_vector<int8_t>(), codes.to_vector<int8_t>());
    EXPECT_EQ(views.at("codes").shape(), codes.shape());
    EXPECT_EQ(views.at("nibbles").dtype(), DType::Int4);
    EXPECT_EQ(views.at("nibbles").to_vector<int8_t>(), nibbles.to_vector<int8_t>());
    // Nothing visible at the final path until the save commits it; the temp file is in the output folder.
    EXPECT_FALSE(fs::exists(dir / "q.onnx.data"));
    onnx_io::SaveOptions save;
    save.data_file = &data;
    onnx_io::save_model(m, dir / "q.onnx", save);
  }
  const onnx::ModelProto back = onnx_io::load_model(dir / "q.onnx").proto;
  std::map<std::string, Tensor> values;
  for (const auto& t : back.graph().initializer()) values[t.name()] = onnx_io::tensor_from_proto(t);
  EXPECT_EQ(values.at("big").to_vector<float>(), big.to_vector<float>());
  EXPECT_EQ(values.at("codes").to_vector<int8_t>(), codes.to_vector<int8_t>());
  EXPECT_EQ(values.at("small").to_vector<float>(), small.to_vector<float>());
  EXPECT_EQ(values.at("nibbles").to_vector<int8_t>(), nibbles.to_vector<int8_t>());
  EXPECT_EQ(values.at("extra").to_vector<float>(), extra.to_vector<float>());
  onnx::ModelProto raw;
  ASSERT_TRUE(raw.ParseFromString(test::read_bytes(dir / "q.onnx")));
  int external = 0;
  for (const auto& t : raw.graph().initializer()) external += t.data_location() == onnx::TensorProto::EXTERNAL;
  EXPECT_EQ(external, 4);  // big, codes, nibbles and extra; not small (nor w and b: 48 and 12 bytes)
  EXPECT_EQ(fs::file_size(dir / "q.onnx.data"), 8192u + 4096u + 4096u + 4096u);  // extra appended by the save

  // Without a commit (an error before the save): no data file, no temp file.
  const fs::path other = dir / "other";
  fs::create_directories(other);
  {
    onnx_io::DataFileWriter data(other / "x.onnx", 1024, {});
    onnx::TensorProto t;
    ASSERT_TRUE(data.write(big, "big", t));
  }
  EXPECT_TRUE(fs::is_empty(other));
  // Never over the input's data: refused before anything is made.
  EXPECT_THROW(onnx_io::DataFileWriter(dir / "q.onnx", 1024, {dir / "q.onnx.data"}), IoError);
  EXPECT_THROW(onnx_io::DataFileWriter(dir / "missing" / "x.onnx", 1024, {}), IoError);
}
