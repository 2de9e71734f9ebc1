// SPDX-License-Identifier: Apache-2.0
// Image presets (see image_preset.h).
#include "image_preset.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ptq::calib {
namespace {

using nlohmann::json;

json parse_preset(const std::string& text, const std::string& origin) {
  try {
    json j = json::parse(text);
    if (!j.is_object()) PTQ_FAIL(DataError, origin, ": expected a JSON object");
    return j;
  } catch (const json::exception& e) {
    PTQ_FAIL(DataError, origin, ": not valid JSON (", e.what(), ")");
  }
}

json load_preset(const std::string& name_or_path) {
  for (const auto& p : builtin_presets())
    if (name_or_path == p.name) return parse_preset(p.json, std::string("preset ") + p.name);
  std::ifstream in(name_or_path, std::ios::binary);
  if (!in) {
    std::string names;
    for (const auto& p : builtin_presets()) names += (names.empty() ? "" : ", ") + std::string(p.name);
    PTQ_FAIL(UsageError, "unknown image preset '", name_or_path, "' (not a file either); built-in presets: ", names);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_preset(ss.str(), name_or_path);
}

template <class T>
T field(const json& j, const char* key, const std::string& origin) {
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    PTQ_FAIL(DataError, origin, ": field '", key, "' has the wrong type");
  }
}

}  // namespace

ImageOptions resolve_image_options(const ImageOptions& given) {
  ImageOptions o = given;
  if (!given.preset.empty()) {
    const json p = load_preset(given.preset);
    const std::string origin = "preset " + given.preset;
    for (auto it = p.begin(); it != p.end(); ++it) {
      const std::string& k = it.key();
      if (k == "description") continue;
      if (k == "size" && o.size.empty()) o.size = field<std::vector<int64_t>>(p, "size", origin);
      else if (k == "resize" && o.resize == 0) o.resize = field<int64_t>(p, "resize", origin);
      else if (k == "scale" && o.scale == 0.0f) o.scale = field<float>(p, "scale", origin);
      else if (k == "mean" && o.mean.empty()) o.mean = field<std::vector<float>>(p, "mean", origin);
      else if (k == "std" && o.std.empty()) o.std = field<std::vector<float>>(p, "std", origin);
      else if (k == "layout" && o.layout.empty()) o.layout = field<std::string>(p, "layout", origin);
      else if (k == "color" && o.color.empty()) o.color = field<std::string>(p, "color", origin);
      else if (k != "size" && k != "resize" && k != "scale" && k != "mean" && k != "std" && k != "layout" && k != "color")
        PTQ_FAIL(DataError, origin, ": unknown field '", k, "'");
    }
  }
  if (o.scale == 0.0f) o.scale = 1.0f;
  if (o.mean.empty()) o.mean = {0.0f};
  if (o.std.empty()) o.std = {1.0f};
  return o;
}

std::string image_preset_help() {
  std::string help;
  for (const auto& p : builtin_presets()) {
    json j = json::parse(p.json);
    help += std::string(help.empty() ? "" : "; ") + p.name + ": " + j.value("description", "");
  }
  return help;
}

}  // namespace ptq::calib
