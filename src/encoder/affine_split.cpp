#include "encoder/affine_split.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <dlfcn.h>

#include <algorithm>
#include <sstream>
#include <vector>

namespace relgeo::internal {
namespace {

using torch::jit::Node;
using torch::jit::Value;
namespace prim = c10::prim;
namespace aten = c10::aten;

// A tensor that `v` always holds: a chain of prim::GetAttr from the module's self,
// or a graph constant. nullopt for anything computed.
std::optional<torch::Tensor> ResolveTensor(Value* v, Value* self, const torch::jit::Module& module) {
  std::vector<std::string> path;
  while (v->node()->kind() == prim::GetAttr) {
    path.push_back(v->node()->s(c10::attr::name));
    v = v->node()->input(0);
  }
  if (v == self) {
    c10::IValue cur = module._ivalue();
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      if (!cur.isObject()) return std::nullopt;
      auto obj = cur.toObject();
      if (!obj->type()->hasAttribute(*it)) return std::nullopt;
      cur = obj->getAttr(*it);
    }
    if (cur.isTensor()) return cur.toTensor();
    return std::nullopt;
  }
  if (!path.empty()) return std::nullopt;
  auto iv = torch::jit::toIValue(v);
  if (iv && iv->isTensor()) return iv->toTensor();
  return std::nullopt;
}

bool IsNone(Value* v) {
  auto iv = torch::jit::toIValue(v);
  return iv && iv->isNone();
}

bool IsConstantInt(Value* v, int64_t want) {
  auto iv = torch::jit::toIValue(v);
  return iv && ((iv->isInt() && iv->toInt() == want) || (iv->isDouble() && iv->toDouble() == double(want)));
}

bool IsFloat2D(const torch::Tensor& t) { return t.defined() && t.dim() == 2 && t.is_floating_point(); }

}  // namespace

torch::Tensor AffineSplit::Pre(const torch::Tensor& x) const {
  if (bias.defined()) return torch::addmm(bias, x, weight_t);
  return torch::mm(x, weight_t);
}

torch::jit::IValue AffineSplit::Rest(const torch::Tensor& pre) const {
  torch::jit::Stack stack{module._ivalue(), pre};
  rest->run(stack);
  return stack.back();
}

std::optional<AffineSplit> DetectAffineSplit(const torch::jit::Module& module) {
  try {
    if (!module.find_method("forward")) return std::nullopt;
    auto graph = module.get_method("forward").graph()->copy();
    torch::jit::Inline(*graph);
    if (graph->inputs().size() != 2 || graph->outputs().size() != 1) return std::nullopt;
    Value* self = graph->inputs()[0];
    Value* x = graph->inputs()[1];
    if (x->uses().size() != 1) return std::nullopt;
    Node* first = x->uses()[0].user;
    if (x->uses()[0].offset != 0) return std::nullopt;

    torch::Tensor w;  // h x d
    torch::Tensor b;
    Value* pre = nullptr;
    std::string what;
    if (first->kind() == aten::linear && first->inputs().size() == 3) {
      auto wt = ResolveTensor(first->input(1), self, module);
      if (!wt || !IsFloat2D(*wt)) return std::nullopt;
      w = *wt;
      if (!IsNone(first->input(2))) {
        auto bt = ResolveTensor(first->input(2), self, module);
        if (!bt) return std::nullopt;
        b = *bt;
      }
      pre = first->output();
      what = "aten::linear";
    } else if ((first->kind() == aten::matmul || first->kind() == aten::mm) && first->inputs().size() == 2) {
      Value* rhs = first->input(1);
      if (rhs->node()->kind() == aten::t && rhs->node()->inputs().size() == 1) {
        auto wt = ResolveTensor(rhs->node()->input(0), self, module);
        if (!wt || !IsFloat2D(*wt)) return std::nullopt;
        w = *wt;  // W (h x d), used as W^T
      } else if (rhs->node()->kind() == aten::transpose && rhs->node()->inputs().size() == 3 &&
                 ((IsConstantInt(rhs->node()->input(1), 0) && IsConstantInt(rhs->node()->input(2), 1)) ||
                  (IsConstantInt(rhs->node()->input(1), 1) && IsConstantInt(rhs->node()->input(2), 0)))) {
        auto wt = ResolveTensor(rhs->node()->input(0), self, module);
        if (!wt || !IsFloat2D(*wt)) return std::nullopt;
        w = *wt;
      } else {
        auto mt = ResolveTensor(rhs, self, module);  // M (d x h): x @ M
        if (!mt || !IsFloat2D(*mt)) return std::nullopt;
        w = mt->t();
      }
      pre = first->output();
      what = first->kind() == aten::mm ? "aten::mm" : "aten::matmul";
      // An optional bias add that is the product's only use.
      if (pre->uses().size() == 1) {
        Node* add = pre->uses()[0].user;
        if (add->kind() == aten::add && add->inputs().size() == 3 && IsConstantInt(add->input(2), 1)) {
          Value* other = add->input(0) == pre ? add->input(1) : add->input(0);
          if (other != pre) {
            auto bt = ResolveTensor(other, self, module);
            if (bt && bt->is_floating_point() && bt->numel() == w.size(0) &&
                (bt->dim() == 1 || (bt->dim() == 2 && bt->size(0) == 1))) {
              b = *bt;
              pre = add->output();
              what += "+add";
            }
          }
        }
      }
    } else {
      return std::nullopt;
    }
    if (b.defined() && (b.numel() != w.size(0) || !b.is_floating_point())) return std::nullopt;
    if (b.defined() && b.dim() == 2 && b.size(0) != 1) return std::nullopt;

    // The rest: the same graph with `pre` as a new input and the first layer gone.
    Value* hidden = graph->addInput("pre");
    hidden->setType(c10::TensorType::get());
    pre->replaceAllUsesWith(hidden);
    torch::jit::EliminateDeadCode(graph);
    if (!x->uses().empty()) return std::nullopt;
    graph->eraseInput(1);

    AffineSplit s;
    s.weight_t = w.detach().to(torch::kFloat32).t().contiguous();
    if (b.defined()) s.bias = b.detach().to(torch::kFloat32).reshape({-1}).contiguous();
    s.module = module;
    s.rest = std::make_shared<torch::jit::GraphFunction>("relgeo_forward_from_pre", graph, nullptr);
    std::ostringstream d;
    d << what << " " << w.size(1) << "->" << w.size(0);
    s.description = d.str();
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<NativeRest> DetectNativeRest(const AffineSplit& split) {
  try {
    auto sgemm = reinterpret_cast<MlpPlan::Sgemm>(dlsym(RTLD_DEFAULT, "dnnl_sgemm"));
    if (!sgemm) return std::nullopt;
    auto graph = split.rest->graph();
    if (graph->inputs().size() != 2 || graph->outputs().size() != 1) return std::nullopt;
    Value* self = graph->inputs()[0];
    Value* cur = graph->inputs()[1];
    NativeRest nr;
    nr.plan.sgemm = sgemm;
    nr.plan.bgemm = reinterpret_cast<MlpPlan::Bgemm>(dlsym(RTLD_DEFAULT, "dnnl_gemm_bf16bf16f32"));
    std::ostringstream desc;
    bool bias_open = false;  // the last layer came from a matmul and may take an add
    auto add_layer = [&](const torch::Tensor& w /* out x in */, const torch::Tensor& b) {
      MlpPlan::Layer L;
      L.in = w.size(1);
      L.out = w.size(0);
      torch::Tensor wt = w.detach().to(torch::kCPU, torch::kFloat32).t().contiguous();
      nr.keep.push_back(wt);
      L.wt = wt.data_ptr<float>();
      torch::Tensor wb = wt.to(torch::kBFloat16).contiguous();
      nr.keep.push_back(wb);
      L.wt_bf16 = reinterpret_cast<const uint16_t*>(wb.data_ptr());
      if (b.defined()) {
        torch::Tensor bb = b.detach().to(torch::kCPU, torch::kFloat32).reshape({-1}).contiguous();
        nr.keep.push_back(bb);
        L.bias = bb.data_ptr<float>();
      }
      nr.plan.layers.push_back(L);
      desc << " linear " << L.in << "->" << L.out;
    };
    for (Node* n : graph->nodes()) {
      const auto k = n->kind();
      if (k == prim::GetAttr || k == prim::Constant) continue;
      if (k == aten::t && n->inputs().size() == 1) continue;  // consumed by a matmul below
      if (n->inputs().empty() || n->input(0) != cur) return std::nullopt;
      if (k == aten::linear && n->inputs().size() == 3) {
        auto w = ResolveTensor(n->input(1), self, split.module);
        if (!w || !IsFloat2D(*w)) return std::nullopt;
        torch::Tensor b;
        if (!IsNone(n->input(2))) {
          auto bt = ResolveTensor(n->input(2), self, split.module);
          if (!bt || bt->numel() != w->size(0)) return std::nullopt;
          b = *bt;
        }
        add_layer(*w, b);
        bias_open = false;
      } else if ((k == aten::matmul || k == aten::mm) && n->inputs().size() == 2) {
        Value* rhs = n->input(1);
        torch::Tensor w;
        if (rhs->node()->kind() == aten::t) {
          auto wt = ResolveTensor(rhs->node()->input(0), self, split.module);
          if (!wt || !IsFloat2D(*wt)) return std::nullopt;
          w = *wt;
        } else {
          auto mt = ResolveTensor(rhs, self, split.module);
          if (!mt || !IsFloat2D(*mt)) return std::nullopt;
          w = mt->t();
        }
        add_layer(w, torch::Tensor());
        bias_open = true;
      } else if (k == aten::add && n->inputs().size() == 3 && bias_open && IsConstantInt(n->input(2), 1)) {
        auto bt = ResolveTensor(n->input(1), self, split.module);
        MlpPlan::Layer& L = nr.plan.layers.back();
        if (!bt || !bt->is_floating_point() || bt->numel() != L.out || (bt->dim() == 2 && bt->size(0) != 1) || bt->dim() > 2)
          return std::nullopt;
        torch::Tensor bb = bt->detach().to(torch::kCPU, torch::kFloat32).reshape({-1}).contiguous();
        nr.keep.push_back(bb);
        L.bias = bb.data_ptr<float>();
        bias_open = false;
      } else if (n->inputs().size() == 1 &&
                 (k == aten::relu || k == aten::relu_ || k == aten::sigmoid || k == aten::sigmoid_ ||
                  k == aten::tanh || k == aten::tanh_)) {
        const Act a = (k == aten::relu || k == aten::relu_) ? Act::kRelu
                      : (k == aten::sigmoid || k == aten::sigmoid_) ? Act::kSigmoid
                                                                    : Act::kTanh;
        (nr.plan.layers.empty() ? nr.plan.lead : nr.plan.layers.back().acts).push_back(a);
        desc << (a == Act::kRelu ? " relu" : a == Act::kSigmoid ? " sigmoid" : " tanh");
        bias_open = false;
      } else {
        return std::nullopt;
      }
      if (n->outputs().size() != 1) return std::nullopt;
      cur = n->output();
    }
    if (graph->outputs()[0] != cur) return std::nullopt;
    int64_t width = split.hidden_dim();
    nr.plan.in_dim = width;
    nr.plan.max_width = width;
    for (const auto& L : nr.plan.layers) {
      if (L.in != width) return std::nullopt;
      width = L.out;
      nr.plan.max_width = std::max(nr.plan.max_width, width);
    }
    nr.plan.out_dim = width;
    nr.description = desc.str();
    return nr;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace relgeo::internal
