#version 330 core
// Objects of the objects3d studio, lit per vertex (Blinn-Phong: sun + spot): at
// 32-128 px a view's triangles are a few pixels wide, so per-vertex lighting looks
// the same as per-pixel and leaves the rasteriser a one-line fragment shader.
// RD_LAYERED: each instance draws into array layer i_layer (one view per layer).

layout(location = 0) in vec3 a_pos;
layout(location = 1) in vec3 a_nrm;
layout(location = 2) in vec4 a_rgba;
layout(location = 3) in vec3 i_r0; // object rotation rows
layout(location = 4) in vec3 i_r1;
layout(location = 5) in vec3 i_r2;
layout(location = 6) in vec3 i_trans;
layout(location = 7) in vec3 i_spot; // spot light position, aimed at the origin
layout(location = 8) in vec3 i_spot_rgb;
layout(location = 10) in float i_layer;

uniform mat4 u_vp;
uniform vec3 u_eye;
uniform vec3 u_sun_dir; // towards the sun, unit
uniform vec3 u_sun_rgb;
uniform vec3 u_ambient;
uniform vec2 u_spot_cone; // cos(outer), cos(inner)
uniform float u_shininess;

out vec3 v_rgb;

void main() {
    vec3 p = vec3(dot(i_r0, a_pos), dot(i_r1, a_pos), dot(i_r2, a_pos)) + i_trans;
    vec3 n = vec3(dot(i_r0, a_nrm), dot(i_r1, a_nrm), dot(i_r2, a_nrm));
    vec3 v = normalize(u_eye - p);

    float nl = dot(n, u_sun_dir);
    float sun_d = max(nl, 0.0);
    float sun_s = nl > 0.0 ? pow(max(dot(n, normalize(u_sun_dir + v)), 0.0), u_shininess) : 0.0;

    vec3 ls = i_spot - p;
    ls *= inversesqrt(dot(ls, ls));
    float cone = smoothstep(u_spot_cone.x, u_spot_cone.y, dot(ls, normalize(i_spot)));
    float ns = dot(n, ls);
    float spot_d = max(ns, 0.0) * cone;
    float spot_s = ns > 0.0 ? pow(max(dot(n, normalize(ls + v)), 0.0), u_shininess) * cone : 0.0;

    vec3 albedo = a_rgba.rgb;
    v_rgb = albedo * (u_ambient + u_sun_rgb * sun_d + i_spot_rgb * spot_d) +
            0.35 * (u_sun_rgb * sun_s + i_spot_rgb * spot_s);
    gl_Position = u_vp * vec4(p, 1.0);
#ifdef RD_LAYERED
    gl_Layer = int(i_layer);
#endif
}
